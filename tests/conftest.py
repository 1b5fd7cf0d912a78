"""Fixtures shared by the whole suite: the real CLI as a subprocess, loopback ports, installed plugins.

Everything here is real: ``run_cli`` runs the installed ``inferload`` console script, ``thirdparty_plugin``
builds tests/thirdparty_plugin into a wheel and installs it with pip, and ``plugin_site`` writes installed
distributions (``*.dist-info`` with METADATA, entry_points.txt and RECORD) that entry-point discovery finds
exactly as it finds pip-installed ones. Nothing touches the project's own environment: plugins live in
temporary directories that reach a subprocess through ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest

from inferload import ENTRY_POINT_GROUP

REPO_ROOT = Path(__file__).resolve().parent.parent


def _children_start_with_default_stop_signals() -> None:
    """The tests' inferload processes start as from an interactive shell, however pytest was started:
    a signal ignored here (pytest run under ``nohup``, or as ``cmd &`` in a script) would stay ignored in
    every child, which inferload honours (engine/stop_signals.py). A handled signal is reset to its
    default by ``exec``; so a Ctrl+C still stops pytest and a hangup still leaves it running."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, lambda *_: None)


_children_start_with_default_stop_signals()

THIRDPARTY_SOURCE = REPO_ROOT / "tests" / "thirdparty_plugin"

EnvOverrides = Mapping[str, "str | None"]

# Variables a developer may have exported that would silently change which plugins a test sees.
# INFERLOAD_STRICT_PLUGINS is deliberately kept: CI sets it so that any plugin failing to load fails the
# run, and tests that need a lenient loader set it to "0" themselves.
_SCRUBBED_PREFIX = "INFERLOAD_"
_KEPT = {"INFERLOAD_STRICT_PLUGINS"}


def inferload_executable() -> Path:
    """The console script of the environment running the tests (not whatever is first on PATH)."""
    bindir = Path(sys.executable).parent
    for candidate in (bindir / "inferload", bindir / "inferload.exe"):
        if candidate.exists():
            return candidate
    found = shutil.which("inferload")
    if found is None:
        raise RuntimeError(f"no `inferload` console script beside {sys.executable}; run `pip install -e .`")
    return Path(found)


def build_env(
    env: EnvOverrides | None = None, pythonpath: Sequence[os.PathLike[str] | str] = ()
) -> dict[str, str]:
    """A subprocess environment: this one minus user plugin controls, plus ``env`` (None removes a key),
    with ``pythonpath`` directories put first on PYTHONPATH."""
    result = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIX) or k in _KEPT}
    result["PYTHONUNBUFFERED"] = "1"
    result.pop("PYTHONPATH", None)
    for key, value in (env or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if pythonpath:
        parts = [str(Path(p)) for p in pythonpath]
        if result.get("PYTHONPATH"):
            parts.append(result["PYTHONPATH"])
        result["PYTHONPATH"] = os.pathsep.join(parts)
    return result


@pytest.fixture(scope="session")
def inferload_exe() -> Path:
    """Path of the real ``inferload`` console script (for tests that need ``subprocess.Popen``)."""
    return inferload_executable()


@pytest.fixture(scope="session")
def cli_env() -> Callable[..., dict[str, str]]:
    """``cli_env(env=None, pythonpath=())`` -> the environment ``run_cli`` would use, for ``Popen`` users."""
    return build_env


@pytest.fixture(scope="session")
def run_cli(inferload_exe: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(*args, env=None, pythonpath=(), cwd=None, timeout=120, input=None)`` runs the real console
    script and returns the CompletedProcess (text mode, stdout/stderr captured, never raises on exit code).

    ``env`` overrides variables (a None value removes one); ``pythonpath`` directories go first on
    PYTHONPATH, which is how installed test plugins reach the subprocess.
    """

    def run(
        *args: str | os.PathLike[str],
        env: EnvOverrides | None = None,
        pythonpath: Sequence[os.PathLike[str] | str] = (),
        cwd: os.PathLike[str] | str | None = None,
        timeout: float = 120.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(inferload_exe), *map(str, args)],
            env=build_env(env, pythonpath),
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it; a race with other processes is possible
    but vanishingly rare on a test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """One free loopback TCP port."""
    return pick_free_port()


@pytest.fixture
def free_port_factory() -> Callable[[], int]:
    """Call it for as many distinct free loopback ports as a test needs."""
    given: set[int] = set()

    def pick() -> int:
        for _ in range(100):
            port = pick_free_port()
            if port not in given:
                given.add(port)
                return port
        raise RuntimeError("could not find a fresh free port")

    return pick


@pytest.fixture(scope="session")
def wait_for_port() -> Callable[..., None]:
    """``wait_for_port(port, host="127.0.0.1", timeout=15, process=None)`` returns once something accepts
    TCP connections there; fails early if ``process`` (a Popen) exits first, with its output."""

    def wait(port: int, host: str = "127.0.0.1", timeout: float = 15.0, process: Any = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(
                    f"process exited with {process.returncode} before {host}:{port} opened\n{out}\n{err}"
                )
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        pytest.fail(f"nothing listened on {host}:{port} within {timeout} s")

    return wait


# -- installed plugins ------------------------------------------------------------------------------------


def pip(*args: str, cwd: Path | None = None) -> None:
    """Run this interpreter's pip offline; on failure show its output in the test report."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def build_wheel(source: Path, outdir: Path) -> Path:
    """Build ``source`` into a wheel in ``outdir``, offline, with the build backend already installed."""
    outdir.mkdir(parents=True, exist_ok=True)
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(outdir), str(source))
    wheels = sorted(outdir.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {outdir}, found {[w.name for w in wheels]}")
    return wheels[0]


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin distribution installed into an isolated directory (not the test environment)."""

    name: str
    """Its entry-point (plugin) name."""
    distribution: str
    version: str
    site: Path
    """The directory it was installed into (``pip install --target``)."""
    wheel: Path

    @property
    def env(self) -> dict[str, str]:
        """Overrides that make a subprocess see the plugin: ``run_cli(..., env=plugin.env)``."""
        return {"PYTHONPATH": str(self.site)}


@pytest.fixture(scope="session")
def thirdparty_plugin(tmp_path_factory: pytest.TempPathFactory) -> InstalledPlugin:
    """tests/thirdparty_plugin (distribution ``inferload-hello``, plugin ``hello``) built into a wheel and
    installed with pip into its own directory; pass ``pythonpath=[plugin.site]`` or ``env=plugin.env``.

    It registers the ``hello`` command, the ``hello`` API router (GET /api/hello) and the ``hello``
    exporter (writes hello.json into the artifact directory).
    """
    root = tmp_path_factory.mktemp("thirdparty")
    # Build from a copy: the build must not write into the repository, and the copy proves the source
    # tree is self-contained.
    source = root / "src"
    shutil.copytree(
        THIRDPARTY_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist")
    )
    wheel = build_wheel(source, root / "wheelhouse")
    site = root / "site"
    pip("install", "--no-deps", "--no-index", "--no-compile", "--target", str(site), str(wheel))
    return InstalledPlugin(
        name="hello", distribution="inferload-hello", version="0.1.0", site=site, wheel=wheel
    )


@dataclass
class PluginSite:
    """A directory of installed plugin distributions written by hand, in the layout pip produces.

    Entry points are discovered from it for real, by a subprocess with ``pythonpath=[site.path]`` or
    in-process through :meth:`entry_points` (which also puts the directory on ``sys.path``).
    """

    path: Path
    monkeypatch: pytest.MonkeyPatch
    modules: list[str] = field(default_factory=list)

    def add_distribution(
        self,
        name: str,
        entry_points: Mapping[str, str],
        modules: Mapping[str, str],
        version: str = "1.0",
        other_groups: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Path:
        """Install distribution ``name`` with ``entry_points`` (plugin name -> ``module [extras]``) and
        ``modules`` (dotted module name -> source); ``other_groups`` adds entry points of other groups
        (group -> name -> value). Returns its ``.dist-info`` directory."""
        written: list[str] = []
        for module, source in modules.items():
            parts = module.split(".")
            for depth in range(1, len(parts)):
                package_init = self.path.joinpath(*parts[:depth], "__init__.py")
                if not package_init.exists():
                    package_init.parent.mkdir(parents=True, exist_ok=True)
                    package_init.write_text("", encoding="utf-8")
                    written.append(package_init.relative_to(self.path).as_posix())
            target = self.path.joinpath(*parts[:-1], parts[-1] + ".py")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
            written.append(target.relative_to(self.path).as_posix())
            self.modules.append(module)
        normalized = name.replace("-", "_")
        dist_info = self.path / f"{normalized}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
        lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{ep} = {value}" for ep, value in entry_points.items()), ""]
        for group, points in (other_groups or {}).items():
            lines += [f"[{group}]", *(f"{ep} = {value}" for ep, value in points.items()), ""]
        (dist_info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
        (dist_info / "INSTALLER").write_text("inferload-tests\n", encoding="utf-8")
        record = [*written, *(f"{dist_info.name}/{f}" for f in ("METADATA", "entry_points.txt", "INSTALLER"))]
        (dist_info / "RECORD").write_text("".join(f"{r},,\n" for r in [*record, f"{dist_info.name}/RECORD"]))
        return dist_info

    def entry_points(self) -> list[Any]:
        """The ``inferload.plugins`` entry points installed here, with this directory put on ``sys.path``
        for the test's duration so ``load_plugins(rules, entry_points=...)`` can import them."""
        self.monkeypatch.syspath_prepend(str(self.path))
        eps = [
            ep
            for dist in importlib_metadata.distributions(path=[str(self.path)])
            for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)
        ]
        return sorted(eps, key=lambda ep: ep.name)

    @property
    def env(self) -> dict[str, str]:
        """Overrides that make a subprocess see these distributions."""
        return {"PYTHONPATH": str(self.path)}


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSite]:
    """An empty :class:`PluginSite`; modules it wrote and a test imported are dropped afterwards."""
    site = PluginSite(path=tmp_path / "site", monkeypatch=monkeypatch)
    site.path.mkdir()
    yield site
    for name in list(sys.modules):
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file and Path(module_file).is_relative_to(site.path):
            del sys.modules[name]
