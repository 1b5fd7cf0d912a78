"""The built wheel works on its own: built offline, installed into a fresh virtual environment, it lists
every catalogued plugin from the wheel's own entry points — never from the source tree.

How the fresh environment gets inferload's dependencies, and why: the tests run offline, so the fresh venv
cannot download them, and ``--system-site-packages`` would not isolate anything (this venv's editable
inferload would leak in). Instead the venv is created bare (``--without-pip``), the wheel is installed into
it with pip's ``--python`` option, and one ``.pth`` file adds a directory of symlinks to every package in
the test environment's site-packages *except inferload's own files* (its dist-info and the editable
install's path hook). A ``.pth`` line only appends that directory to ``sys.path``; the editable install's
``.pth`` is neither linked nor processed, so the only ``inferload`` the fresh interpreter can find is the
wheel's, and the test asserts that.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest

from conftest import REPO_ROOT, build_env, build_wheel, pip
from inferload import ENTRY_POINT_GROUP, __version__

PROBE = """
import importlib.metadata, json, sys
import inferload, inferload_plugins
dist = importlib.metadata.distribution("inferload")
print(json.dumps({
    "inferload": inferload.__file__,
    "inferload_plugins": inferload_plugins.__file__,
    "dist": str(dist.locate_file("")),
    "entry_points": sorted(ep.name for ep in dist.entry_points if ep.group == "inferload.plugins"),
    "sys_path": sys.path,
}))
"""


def catalogue() -> dict[str, str]:
    """plugin name -> ``module [essential, default_<category>…]``, as plugins.yaml says it should ship."""
    import yaml

    data = yaml.safe_load((REPO_ROOT / "plugins.yaml").read_text(encoding="utf-8"))
    expected = {}
    for e in data.get("plugins") or []:
        categories = e["category"] if isinstance(e["category"], list) else [e["category"]]
        # a default plugin marks each category it is the default of; "options" has no default (a plugin's
        # options are its own, never chosen)
        marks = ["essential"] * bool(e.get("essential")) + [
            f"default_{c}" for c in categories if c != "options"] * bool(e.get("default"))
        expected[e["name"]] = e["module"] + (f" [{', '.join(marks)}]" if marks else "")
    return expected


def link_dependencies(target: Path) -> None:
    """Fill ``target`` with symlinks to everything in this environment's site-packages but inferload."""
    dist = importlib_metadata.distribution("inferload")
    site = Path(str(dist.locate_file(""))).resolve()
    own = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    assert any(name.endswith(".dist-info") for name in own), own
    target.mkdir()
    for entry in site.iterdir():
        if entry.name not in own and entry.suffix != ".pth" and entry.name != "__pycache__":
            (target / entry.name).symlink_to(entry)
    assert (target / "pluggy").exists(), f"no pluggy in {site}"


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(REPO_ROOT, root / "wheelhouse")
    venv = root / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    bare = subprocess.run([python, "-c", "import inferload"], capture_output=True, text=True, check=False)
    assert bare.returncode != 0, "the fresh venv already sees inferload: it is not isolated"
    pip("--python", str(python), "install", "--no-deps", "--no-index", "--no-compile", str(wheel))
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = root / "deps"
    link_dependencies(deps)
    (Path(purelib) / "_inferload_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    return {
        "wheel": wheel,
        "venv": venv,
        "python": python,
        "inferload": venv / "bin" / "inferload",
        "root": root,
    }


def run(command: list[Any], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        env=build_env(**kwargs),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_wheel_declares_the_catalogue_as_entry_points(fresh_install: dict[str, Path]) -> None:
    with zipfile.ZipFile(fresh_install["wheel"]) as wheel:
        names = wheel.namelist()
        (entry_points_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = wheel.read(entry_points_file).decode()
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry-point names are case-sensitive
    parser.read_string(text)
    assert dict(parser[ENTRY_POINT_GROUP]) == catalogue()
    assert dict(parser["console_scripts"]) == {"inferload": "inferload.cli:main"}
    # the in-process catalogue: one fixed entry point and the catalogue file it reads
    assert dict(parser["inferload.catalogues"]) == {"inferload": "inferload_plugins.catalogue:entry_points"}
    assert "inferload_plugins/plugins.yaml" in names
    assert "inferload/hookspecs.py" in names and "inferload_plugins/commands/plugins.py" in names
    assert "inferload_contrib/__init__.py" in names
    assert not [n for n in names if n.startswith(("core/", "plugins/", "contrib/", "tests/"))]


def test_fresh_venv_imports_inferload_from_the_wheel_only(fresh_install: dict[str, Path]) -> None:
    done = run([fresh_install["python"], "-c", PROBE], cwd=fresh_install["root"])
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    venv = str(fresh_install["venv"])
    assert probe["inferload"].startswith(venv) and probe["inferload_plugins"].startswith(venv)
    assert probe["dist"].startswith(venv)
    assert probe["entry_points"] == sorted(catalogue())
    assert not [p for p in probe["sys_path"] if p.startswith(str(REPO_ROOT))], (
        "the source tree is on sys.path"
    )


def test_inferload_plugins_from_the_wheel_lists_every_catalogued_plugin(
    fresh_install: dict[str, Path],
) -> None:
    done = run([fresh_install["inferload"], "plugins", "--json"], cwd=fresh_install["root"])
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert "catalogue" not in done.stderr, done.stderr  # read from the wheel's own plugins.yaml
    for name, value in catalogue().items():
        row = rows[name]
        assert (row["distribution"], row["version"]) == ("inferload", __version__)
        assert row["module"] == value.split()[0]
        assert row["status"] == "enabled", row

    version = run([fresh_install["inferload"], "--version"], cwd=fresh_install["root"])
    assert version.stdout == f"inferload {__version__}\n"


def test_wheel_install_discovers_a_thirdparty_plugin(
    fresh_install: dict[str, Path], thirdparty_plugin: Any
) -> None:
    done = run(
        [fresh_install["inferload"], "hello"], cwd=fresh_install["root"], pythonpath=[thirdparty_plugin.site]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hello, world\n")


DASHBOARD_PROBE = """
import json
from inferload_plugins.routers.dashboard import asset_names
print(json.dumps({name: str(path) for name, path in asset_names().items()}))
"""


def test_wheel_ships_the_dashboard_page_and_its_vendored_chart_library(
    fresh_install: dict[str, Path],
) -> None:
    source = REPO_ROOT / "plugins" / "inferload_plugins" / "routers" / "dashboard_assets"
    expected = sorted(path.name for path in source.iterdir())
    with zipfile.ZipFile(fresh_install["wheel"]) as wheel:
        shipped = sorted(Path(name).name for name in wheel.namelist()
                         if name.startswith("inferload_plugins/routers/dashboard_assets/"))
    assert shipped == expected and "uPlot.iife.min.js" in shipped and "uPlot.LICENSE" in shipped
    done = run([fresh_install["python"], "-c", DASHBOARD_PROBE], cwd=fresh_install["root"])
    assert done.returncode == 0, done.stderr
    served = json.loads(done.stdout)
    assert sorted(served) == expected  # what the installed router serves, found inside the venv
    assert all(path.startswith(str(fresh_install["venv"])) for path in served.values())
