"""Schemathesis fuzzes every operation of /openapi.json on a live server: no 5xx, and every response
conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import schemathesis

from api_state_factory import complete, make_state, serving, start_running
from inferload.runstate import Lifecycle
from inferload_plugins.api_hosts.uvicorn_host import ApiServer


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A run in progress that already has artifacts on disk, so every route has something to return and
    /readyz answers 200 (a 503 there is the documented 'not running', not a server error)."""
    state = make_state(tmp_path_factory.mktemp("fuzz") / "artifacts")
    start_running(state)
    complete(state, {"nested/records.csv": "a,b\n"})
    state.lifecycle = Lifecycle.RUNNING
    with serving(state) as server:
        yield server


def test_fuzzing_every_operation_finds_no_server_error(live_api: ApiServer) -> None:
    # The CLI rather than schemathesis' pytest plugin, which does not work with this pytest version.
    done = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{live_api.url}/openapi.json", "--checks", "all",
         "--max-examples", "60", "--phases", "examples,coverage,fuzzing", "--seed", "20261128",
         "--suppress-health-check", "all", "--no-color"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    assert "Tested: 15" in report, report[-4000:]  # every route, /api/server-metrics and /dashboard included
    assert "Server error" not in report


def test_the_schema_is_valid_openapi(live_api: ApiServer) -> None:
    loaded = schemathesis.openapi.from_url(f"{live_api.url}/openapi.json")
    operations = [op.ok() for op in loaded.get_all_operations()]
    assert len(operations) == 15
    assert {op.path for op in operations} >= {"/api/config", "/api/results/files/{filename}", "/metrics",
                                                   "/api/server-metrics", "/api/timeline",
                                                   "/dashboard/assets/{name}"}
