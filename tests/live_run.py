"""A real `inferload profile` process with its live API on an ephemeral port (``--api-port 0``), for tests
that talk to a run while it runs: the control routes, load segments."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

_API_LINE = re.compile(r"HTTP API on (http://[^\s(]+)")


class LiveRun:
    """``inferload profile --api-port 0 ARGS`` (the embedded simulator unless ARGS has --url), its stderr
    collected as it comes; :attr:`base` is the API's URL once it serves. ``token`` is sent by
    :meth:`control` unless another is given."""

    def __init__(self, exe: Path, env: dict[str, str], root: Path, *args: str, token: str | None = None
                 ) -> None:
        self.root = root
        self.token = token
        self.process = subprocess.Popen(
            [str(exe), "profile", "--ui", "none", "--streaming", "--isl", "16", "--osl", "8",
             "--api-port", "0", "--artifact-dir", str(root), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: list[str] = []
        self._url_seen = threading.Event()
        self.base = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            match = _API_LINE.search(line)
            if match and not self.base:
                self.base = match.group(1)
                self._url_seen.set()
        self._url_seen.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_serving(self, timeout: float = 90.0) -> None:
        """Until the API serves and the profiling phase is sending (the control routes take changes)."""
        assert self._url_seen.wait(timeout), self.stderr
        assert self.base, f"the run never served its API:\n{self.stderr}"
        wait_until(lambda: (self.load() or {}).get("state") == "running", timeout=timeout,
                   what=lambda: self.stderr)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10)

    def progress(self) -> dict[str, Any]:
        return self.get("/api/progress").json()

    def load(self) -> dict[str, Any] | None:
        try:
            return self.progress().get("load")
        except httpx.HTTPError:
            return None

    def sent(self) -> int:
        return int(self.progress()["phases"]["profiling"]["requests_sent"])

    def control(self, method: str, route: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """``method /api/control/route`` with ``Authorization: Bearer`` the run's token (or ``token``;
        ``""`` sends no header)."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.base}/api/control/{route}", headers=headers, timeout=10,
                             **kwargs)

    def finish(self, timeout: float = 120.0) -> int:
        """Wait for the process to end; its exit code."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def run_dir(self) -> Path:
        runs = [p for p in self.root.iterdir() if p.is_dir()]
        assert len(runs) == 1, runs
        return runs[0]

    def export(self) -> dict[str, Any]:
        return json.loads((self.run_dir() / "profile_export.json").read_text())

    def records(self) -> list[dict[str, Any]]:
        text = (self.run_dir() / "profile_export.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_until(predicate: Any, timeout: float = 30.0, what: Any = None) -> None:
    """Poll ``predicate`` until true; AssertionError (with ``what()``) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in time{': ' + what() if what else ''}")
        time.sleep(0.05)
