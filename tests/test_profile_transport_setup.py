"""Client set-up is never timed: every transport is prepared in its worker before t0.

Run through the real CLI against a real simulator, each transport's workers report ready (with the
wall-clock time set-up ended) before the first request is scheduled, and every request of a worker
starts after its ready time. A transport with a prepare step refuses a request before it, so no
set-up can slip back into a request's timed window.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferload.registry import load_plugins
from profile_fixtures import Simulator, artifact_dir, read_jsonl, simulator, wait_for

__all__ = ["simulator"]

TRANSPORTS = ("protocol", "aiohttp", "httpx")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_request_starts_after_its_worker_set_up_its_transport(
    transport: str, inferload_exe: Path, cli_env: Any, free_port: int, simulator: Simulator, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--url", simulator.url, "-m", "m", "--streaming",
         "--transport", transport, "--workers", "2", "--concurrency", "4", "--request-count", "24",
         "--osl", "4", "--isl", "8", "--ui", "none", "--api-port", str(free_port), "--api-linger", "inf",
         "--artifact-dir", str(tmp_path)],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    try:
        def finished() -> bool:
            try:
                return httpx.get(f"{base}/api/results", timeout=2).json()["status"] != "running"
            except httpx.HTTPError:
                return False

        wait_for(finished, timeout=90)
        workers = httpx.get(f"{base}/api/workers", timeout=5).json()["workers"]
    finally:
        process.send_signal(2)  # SIGINT ends the infinite linger
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    log = (artifact_dir(tmp_path) / "logs" / "inferload.log").read_text()
    assert "before the first request" in log  # the start-up timing line with the set-up time (log file)
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert len(records) == 24 and not any(r["error"] for r in records)
    starts: dict[str, list[int]] = defaultdict(list)
    for record in records:
        starts[record["metadata"]["worker_id"]].append(record["metadata"]["request_start_ns"])
    assert set(starts) <= set(workers) and len(workers) == 2
    for worker_id, info in workers.items():
        assert info["ready_ns"] is not None, info
        assert all(info["ready_ns"] <= start for start in starts[worker_id]), (worker_id, info["ready_ns"])


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_transport_refuses_a_request_before_it_is_prepared(transport: str, simulator: Simulator) -> None:
    spec = load_plugins().get("transport", transport)
    client = spec.factory(url=f"{simulator.url}/v1/chat/completions", headers={}, max_connections=1)

    async def unprepared_then_prepared() -> int:
        with pytest.raises(RuntimeError, match="before prepare"):
            await client.request(b"{}", {}, None)
        await client.prepare()
        statuses: list[int] = []

        class Sink:
            def on_headers(self, status: int, ts_ns: int) -> None:
                statuses.append(status)

            def on_body(self, data: bytes, ts_ns: int) -> None:
                pass

        body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'
        await client.request(body, {}, Sink())
        await client.close()
        return statuses[0]

    assert asyncio.run(unprepared_then_prepared()) == 200
