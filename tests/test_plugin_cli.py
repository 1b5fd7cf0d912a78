"""The CLI shell as a user meets it: help, version, and one-line usage errors with exit code 2."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import importlib_metadata
import pytest

import inferload
from inferload.cli import main


def test_help_lists_plugin_commands_and_controls(run_cli: Any) -> None:
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: inferload")
    for text in ("plugins", "--disable-plugin NAME", "-p NAME, --plugin NAME", "--verbose", "--version"):
        assert text in done.stdout
    commands = {
        row["provides"][0]
        for row in json.loads(run_cli("plugins", "--json").stdout)
        if "command" in row["category"]
    }
    for command in commands:
        assert command in done.stdout


def test_subcommand_help_names_its_own_flags(run_cli: Any) -> None:
    done = run_cli("plugins", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: inferload plugins")
    assert "--json" in done.stdout and "--disable-plugin NAME" in done.stdout


def test_version_is_the_distribution_version(run_cli: Any) -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"inferload {inferload.__version__}\n"
    assert inferload.__version__ == importlib_metadata.version("inferload")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--bogus",), "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param(("plugins", "--bogus"), "unrecognized arguments: --bogus", id="unknown-subcommand-flag"),
        pytest.param(("bogus",), "invalid choice: 'bogus'", id="unknown-subcommand"),
        pytest.param(("--disable-plugin", "command-plot", "plot", "DIR"),
                     "invalid choice: 'plot' (choose from 'compare', 'profile', 'plugins', 'simulate'); "
                     "plugin(s) command-plot are disabled: if one of them provides it, enable it (drop "
                     "--disable-plugin NAME / INFERLOAD_DISABLE_PLUGINS)", id="command-of-a-disabled-plugin"),
        pytest.param(
            ("--disable-plugin",), "argument --disable-plugin: expected one argument", id="missing-value"
        ),
        pytest.param(
            ("plugins", "-p"), "argument -p/--plugin: expected one argument", id="missing-value-late"
        ),
    ],
)
def test_usage_error_is_one_line_and_exit_2(run_cli: Any, args: tuple[str, ...], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("inferload: error: ")
    assert message in done.stderr
    assert done.stderr.rstrip().endswith("(see `inferload --help`)")


def test_no_subcommand_prints_help_and_exits_2(run_cli: Any) -> None:
    done = run_cli()
    assert done.returncode == 2
    assert done.stdout.startswith("usage: inferload")


def test_python_dash_m_inferload_runs_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inferload", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout == f"inferload {inferload.__version__}\n"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """main() configures logging for a process; put the test process's logging back afterwards."""
    root, package = logging.getLogger(), logging.getLogger("inferload")
    handlers, levels = list(root.handlers), (root.level, package.level)
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
    root.setLevel(levels[0])
    package.setLevel(levels[1])


@pytest.mark.usefixtures("restore_logging")
def test_main_returns_the_exit_code_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(row["name"] == "plugins" for row in rows)
