"""Meta-tests that keep the docs true: every hook documented with a working example, the guide's example
plugin identical to the tested one, README links resolving, and CI running exactly the README's test
command.
"""

from __future__ import annotations

import inspect
import os
import re
import textwrap
from pathlib import Path

import pytest

from inferload import hookspecs, registry
from inferload.types import SPEC_TYPES

REPO_ROOT = Path(__file__).resolve().parent.parent
GUIDE = REPO_ROOT / "docs" / "plugins.md"
README = REPO_ROOT / "README.md"
CI_SCRIPT = REPO_ROOT / ".ci" / "run"

HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "inferload_spec"))


def fenced_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def section(markdown: str, heading: str) -> str:
    match = re.search(
        rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, flags=re.DOTALL | re.MULTILINE
    )
    assert match, f"no '## {heading}' section"
    return match.group(1)


def test_the_hook_list_is_found() -> None:
    assert {"register_commands", "register_api_routers", "run_started", "record_batch"} <= set(HOOKS)


def test_every_hook_has_a_section_in_the_guide_and_no_section_is_stale() -> None:
    documented = set(re.findall(r"^### `(\w+)`$", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert documented == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_docstring_has_an_example_that_compiles(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    summary, _, example = doc.partition("Example::")
    assert summary.strip(), f"{hook} needs a one-line summary"
    assert example.strip(), f"{hook}'s docstring needs an 'Example::' block"
    code = textwrap.dedent(example.strip("\n"))
    assert "@hookimpl" in code and f"def {hook}(" in code
    compile(code, f"<{hook} example>", "exec")


def test_every_spec_type_is_named_in_the_guide() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for spec in SPEC_TYPES:
        assert f"`{spec.__name__}" in text, spec.__name__


def test_every_plugin_control_variable_is_documented() -> None:
    variables = set(re.findall(r"INFERLOAD_\w+", inspect.getsource(registry)))
    assert len(variables) >= 4
    text = GUIDE.read_text(encoding="utf-8")
    for name in sorted(variables):
        assert f"`{name}" in text, name
    for flag in ("--disable-plugin NAME", "-p NAME", "--verbose", "[essential]", "priority"):
        assert flag in text, flag


def test_verbatim_examples_equal_the_files_they_show() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    shown = re.findall(r"^<!-- verbatim: (\S+) -->\n```\w+\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    assert {path for path, _ in shown} == {
        "tests/thirdparty_plugin/pyproject.toml",
        "tests/thirdparty_plugin/src/inferload_hello/__init__.py",
    }
    for path, body in shown:
        assert body == (REPO_ROOT / path).read_text(encoding="utf-8"), (
            f"docs/plugins.md's copy of {path} is stale"
        )


def test_python_examples_in_the_guide_compile_and_the_testing_example_passes() -> None:
    blocks = fenced_blocks(GUIDE.read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 3
    for block in blocks:
        compile(block, "<docs/plugins.md>", "exec")
    (testing,) = [b for b in blocks if "def test_my_exporter_registers" in b]
    namespace: dict[str, object] = {}
    exec(compile(testing, "<docs/plugins.md testing example>", "exec"), namespace)
    namespace["test_my_exporter_registers"]()  # type: ignore[operator]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", [README, GUIDE], ids=lambda p: p.name)
def test_relative_links_resolve(document: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", document.read_text(encoding="utf-8"))
    assert links
    for link in links:
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (document.parent / target).resolve() if target else document
        assert path.exists(), f"{document.name} links to {link}, which does not exist"
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, (
                f"{document.name}: no heading for #{anchor} in {target}"
            )


# -- README quick start and CI ------------------------------------------------------------------------------


def quick_start_commands() -> list[str]:
    blocks = fenced_blocks(section(README.read_text(encoding="utf-8"), "Quick start"), "sh")
    return [block.strip() for block in blocks]


def test_quick_start_is_exactly_two_one_line_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    main_job, tests = commands
    assert main_job.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert ".venv/bin/inferload profile " in main_job
    assert tests.startswith("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && ")
    assert tests.endswith("-m pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = CI_SCRIPT.read_text(encoding="utf-8")
    (declared,) = re.findall(r'^TEST_COMMAND="(.*)"$', script, flags=re.MULTILINE)
    assert declared == quick_start_commands()[1]
    assert 'eval "$TEST_COMMAND"' in script
    assert script.index(".venv/bin/ruff check .") < script.index('eval "$TEST_COMMAND"')


def test_ci_script_is_strict_and_fails_when_no_test_ran() -> None:
    script = CI_SCRIPT.read_text(encoding="utf-8")
    assert script.startswith("#!/usr/bin/env bash\n")
    assert os.access(CI_SCRIPT, os.X_OK)
    assert "\nset -euo pipefail\n" in script
    assert "export INFERLOAD_STRICT_PLUGINS=1" in script
    assert re.search(r'if \[ "\$status" -eq 5 \]; then\n.*\n\s+exit 1\n', script)
    assert script.rstrip().endswith('exit "$status"')
