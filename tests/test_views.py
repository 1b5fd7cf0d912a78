"""Progress views are plugins of the ``view`` category: ``--ui`` takes any installed view (its values come
from the registry), the phase loop feeds the chosen one in order (built, updated through each phase, a last
update, closed), a wrong name is one usage line listing the views, from a flag, the environment or a config
file alike, disabling the default view names the plugin to enable, and a view that raises costs the run
nothing but the view.

Everything runs through the real ``inferload`` CLI; the third-party views are real installed distributions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir

SMALL_RUN = ("--request-count", "6", "--warmup-request-count", "2", "--isl", "8", "--osl", "3",
             "--api-linger", "0")
USAGE_LINE = ("inferload: error: --ui 'fancy' is not an installed view; choose one of none, journal, rich, "
              "simple (see `inferload plugins`)")

# A view writing each call to a journal: what it was asked to show, in order.
JOURNAL_VIEW = """\
import os

from inferload import hookimpl
from inferload.types import ViewSpec


@hookimpl
def register_views():
    return [ViewSpec(name="journal", description="Every call, journalled", factory=JournalView,
                     interval=0.05)]


class JournalView:
    def __init__(self, state):
        self.state = state
        self.note("built")

    def note(self, line):
        with open(os.environ["VIEW_JOURNAL"], "a", encoding="utf-8") as journal:
            journal.write(line + "\\n")

    def update(self):
        phase = self.state.current_phase
        if phase is not None:
            self.note(f"update {phase.phase} {phase.requests_completed}/{phase.total_expected_requests}")

    def close(self):
        self.note("close")
"""

BROKEN_VIEW = """\
from inferload import hookimpl
from inferload.types import ViewSpec


@hookimpl
def register_views():
    return [ViewSpec(name="broken", description="Raises on update", factory=Broken, interval=0.05)]


class Broken:
    def __init__(self, state):
        pass

    def update(self):
        raise RuntimeError("cannot draw")

    def close(self):
        raise AssertionError("a view that failed is not called again")
"""


@pytest.fixture
def view_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution("inferload-journal-view", {"view-journal": "inferload_journal_view"},
                                 {"inferload_journal_view": JOURNAL_VIEW})
    return plugin_site


def test_a_third_party_view_is_selectable_with_ui_name_and_fed_through_every_phase(
    run_cli: Any, view_site: Any, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = {**view_site.env, "VIEW_JOURNAL": str(journal)}
    helped = run_cli("profile", "--help", env=view_site.env)
    listed = re.search(r"--ui NAME progress view: (.*?) or none;", " ".join(helped.stdout.split()))
    assert listed is not None
    assert sorted(listed.group(1).split(", ")) == ["journal", "rich (default)", "simple"]
    done = run_cli("profile", "--ui", "journal", "--artifact-dir", tmp_path / "art", *SMALL_RUN, env=env)
    assert done.returncode == 0, done.stderr
    lines = journal.read_text().splitlines()
    assert lines[0] == "built" and lines[-1] == "close"
    phases = [line.split()[1] for line in lines[1:-1]]
    assert phases == sorted(phases, key=["warmup", "profiling"].index), phases  # warmup, then profiling
    assert "warmup" in phases
    assert lines[-2] == "update profiling 6/6"  # the last update before close shows the whole phase
    assert not any(line.startswith("inferload: [") for line in done.stderr.splitlines())  # not simple's


def test_without_ui_a_pipe_shows_the_view_the_default_names_for_pipes(
    run_cli: Any, view_site: Any, tmp_path: Path
) -> None:
    env = {**view_site.env, "VIEW_JOURNAL": str(tmp_path / "journal")}
    done = run_cli("profile", "--artifact-dir", tmp_path / "art", *SMALL_RUN, env=env)
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("inferload: [profiling] 6/6 requests") for line in done.stderr.splitlines())
    assert not (tmp_path / "journal").exists()  # an installed extra view is not shown unless asked for


@pytest.mark.parametrize("given", ["flag", "env", "file"])
def test_an_unknown_ui_is_one_usage_line_listing_the_installed_views(
    run_cli: Any, view_site: Any, tmp_path: Path, given: str
) -> None:
    args: tuple[str, ...] = ("--ui", "fancy") if given == "flag" else ()
    env = {**view_site.env, **({"INFERLOAD_UI": "fancy"} if given == "env" else {})}
    if given == "file":
        config = tmp_path / "config.yaml"
        config.write_text("ui: fancy\n")
        args = ("-f", str(config))
    out = tmp_path / "art"
    done = run_cli("profile", *args, "--artifact-dir", out, *SMALL_RUN, env=env)
    assert done.returncode == 2
    if given == "flag":  # argparse knows the choices from the registry
        assert "argument --ui: invalid choice: 'fancy'" in done.stderr
        assert "'none', 'journal', 'rich', 'simple'" in done.stderr.replace('"', "'")
    else:
        assert done.stderr.strip() == USAGE_LINE
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_disabling_the_default_view_names_the_plugin_to_enable(run_cli: Any, tmp_path: Path) -> None:
    done = run_cli("--disable-plugin", "view-rich", "profile", "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "inferload: error: the default view comes from plugin 'view-rich', which is disabled: enable it "
        "(drop --disable-plugin view-rich) or give --ui NAME (--ui none: no progress view) (available: "
        "simple)"
    )
    assert not any(tmp_path.iterdir())


def test_a_view_that_raises_is_reported_once_and_the_run_completes(
    run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    plugin_site.add_distribution("inferload-broken-view", {"view-broken": "inferload_broken_view"},
                                 {"inferload_broken_view": BROKEN_VIEW})
    done = run_cli("profile", "--ui", "broken", "--artifact-dir", tmp_path / "art", *SMALL_RUN,
                   env={**plugin_site.env, "INFERLOAD_STRICT_PLUGINS": "0"})
    assert done.returncode == 0, done.stderr
    failures = [line for line in done.stderr.splitlines() if "failed in view 'broken'" in line]
    assert len(failures) == 1 and "RuntimeError: cannot draw" in failures[0], done.stderr
    export = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert export["request_count"]["avg"] == 6
    assert any("failed in view 'broken'" in warning for warning in export["client_health"]["warnings"])
