"""Summary sections (``register_summary_sections``): blocks of profile_export.json computed after the last
record by plugins — the built-in ``steady_state`` and ``output_length`` and a third party's — each one
removable by disabling its plugin, and one that raises costing only its own block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SECTIONS_MODULE = '''
from inferload import hookimpl
from inferload.types import SummarySectionSpec


def _ok_count(context):
    ok = [r for r in context.records if r.error is None and r.phase == "profiling"]
    return {"ok": len(ok), "endpoint": context.endpoint.name,
            "warning": "third-party check: %d ok requests" % len(ok)}


def _broken(context):
    raise RuntimeError("section exploded")


@hookimpl
def register_summary_sections():
    return [SummarySectionSpec(name="ok_count", description="ok requests", compute=_ok_count),
            SummarySectionSpec(name="broken", description="always raises", compute=_broken)]
'''

RUN = ("profile", "--concurrency", "2", "--request-count", "6", "--osl", "4", "--isl", "8", "--ui", "none")


def _summary(artifact_dir: Path) -> dict[str, Any]:
    (path,) = artifact_dir.glob("*/profile_export.json")
    return json.loads(path.read_text())


def test_builtin_sections_are_plugins_and_disabling_one_leaves_its_block_out(
    run_cli: Any, tmp_path: Path
) -> None:
    both = run_cli(*RUN, "--artifact-dir", tmp_path / "both")
    assert both.returncode == 0, both.stderr
    summary = _summary(tmp_path / "both")
    assert {"steady_state", "output_length"} <= set(summary)
    without = run_cli("--disable-plugin", "summary-steady-state", *RUN,
                      "--artifact-dir", tmp_path / "without")
    assert without.returncode == 0, without.stderr
    summary = _summary(tmp_path / "without")
    assert "steady_state" not in summary and "output_length" in summary
    assert summary["request_count"]["avg"] == 6  # the whole-run figures do not depend on the section


def test_a_third_party_section_adds_its_block_and_warning_and_a_raising_one_costs_only_its_block(
    run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    plugin_site.add_distribution("inferload-sections", {"sections": "sections_demo"},
                                 {"sections_demo": SECTIONS_MODULE})
    # not strict (CI runs strict): the point is that a raising section costs only its own block
    done = run_cli(*RUN, "--artifact-dir", tmp_path, pythonpath=[plugin_site.path],
                   env={"INFERLOAD_STRICT_PLUGINS": None})
    assert done.returncode == 0, done.stderr
    summary = _summary(tmp_path)
    assert summary["ok_count"]["ok"] == 6 and summary["ok_count"]["endpoint"] == "chat"
    assert "third-party check: 6 ok requests" in summary["measurement_warnings"]
    assert "broken" not in summary
    assert any("'sections'" in w and "summary section 'broken'" in w
               for w in summary["client_health"]["warnings"]), summary["client_health"]["warnings"]
    assert "steady_state" in summary and "output_length" in summary  # the built-ins still ran
    assert "Traceback" not in done.stderr
