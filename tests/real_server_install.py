"""Install the real inference servers the real-server tests run, each in its own pinned virtualenv.

Run it with the plain interpreter (standard library only), as ``.ci/run`` does::

    python3 tests/real_server_install.py            # every server
    python3 tests/real_server_install.py llama      # just one (llama, transformers, litellm)

Each server lives in ``<root>/<name>-<hash>/`` where ``<root>`` is ``$INFERLOAD_TEST_SERVERS`` or
``${XDG_CACHE_HOME:-~/.cache}/inferload-test-servers`` and ``<hash>`` is taken over the server's pins, so a
changed pin installs afresh and an unchanged one is a no-op (a file ``installed.json`` marks a finished
install). ``llama-cpp-python`` builds from source (cmake and a C++ compiler; ~13 min on 2 cores the first
time, then pip's wheel cache makes it quick); ``torch`` is pinned to a CPU build, as a plain ``torch`` would
pull a multi-GB CUDA one. The tests (tests/test_real_servers.py) find the venvs through :func:`venv_dir`.

Exit status: 0 when every requested server is installed, 1 when one failed (its pip log is named).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

SERVERS: dict[str, tuple[str, ...]] = {
    # the server, plus `gguf` to write the tiny model's weights with the same numpy
    "llama": ("llama-cpp-python[server]==0.3.36", "gguf==0.19.0"),
    # torch pinned to the CPU build (a plain `torch` resolves to a CUDA build of several GB)
    "transformers": ("transformers[serving]==5.24.0", "torch==2.13.0"),
    # the gateway users put in front of servers (offline with LITELLM_LOCAL_MODEL_COST_MAP=True); 1.110
    # needs a litellm-proxy package that is not on PyPI
    "litellm": ("litellm[proxy]==1.106.12",),
}
"""Server name -> the pip requirements of its virtualenv."""

INSTALL_COMMAND = "python3 tests/real_server_install.py"
"""What a user types to install them (named by the tests' skip messages)."""

NEEDS_COMPILER = {"llama"}
"""Servers that build native code at install time."""


def root_dir() -> Path:
    """Where the server virtualenvs live."""
    explicit = os.environ.get("INFERLOAD_TEST_SERVERS")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "inferload-test-servers"


def venv_dir(name: str) -> Path:
    """The virtualenv of server ``name``: a function of its pins, so a pin change installs afresh."""
    digest = hashlib.sha256("\n".join(SERVERS[name]).encode()).hexdigest()[:12]
    return root_dir() / f"{name}-{digest}"


def python_of(name: str) -> Path:
    """The interpreter of server ``name``'s virtualenv."""
    return venv_dir(name) / "bin" / "python"


def is_installed(name: str) -> bool:
    """True once a complete install of server ``name`` with its current pins exists."""
    return (venv_dir(name) / "installed.json").is_file() and python_of(name).is_file()


def missing_build_tools() -> list[str]:
    """The build tools a from-source server needs that are not on PATH."""
    return [tool for tool in ("cmake", "cc", "c++") if shutil.which(tool) is None]


def install(name: str) -> Path:
    """Create (or keep) server ``name``'s virtualenv; returns it. Raises ``RuntimeError`` naming the log."""
    target = venv_dir(name)
    if is_installed(name):
        return target
    if target.exists():  # an interrupted install: start clean rather than trust half a venv
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    log_path = target / "pip.log"
    command = [str(python_of(name)), "-m", "pip", "install", "--disable-pip-version-check", *SERVERS[name]]
    with log_path.open("w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    if status != 0:
        raise RuntimeError(f"pip install {' '.join(SERVERS[name])} failed (exit {status}); see {log_path}")
    (target / "installed.json").write_text(json.dumps({"requirements": list(SERVERS[name])}, indent=1))
    return target


def main(argv: list[str]) -> int:
    names = argv or list(SERVERS)
    unknown = [name for name in names if name not in SERVERS]
    if unknown:
        print(f"unknown server {unknown[0]!r}: choose from {', '.join(SERVERS)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        if name in NEEDS_COMPILER and not is_installed(name) and missing_build_tools():
            print(f"{name}: cannot build, no {', '.join(missing_build_tools())} on PATH; its tests will skip")
            failed += 1
            continue
        state = "already installed" if is_installed(name) else "installing"
        print(f"{name}: {state} in {venv_dir(name)}", flush=True)
        try:
            install(name)
        except RuntimeError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
