"""A real ``inferload profile --api-port 0`` process, its API's URL read from the log line it prints
(imported by the dashboard, timeline and terminal-view tests).

The API binds port 0 (the OS picks a free port), so parallel test runs never collide; the URL is taken
from ``HTTP API on http://127.0.0.1:PORT`` on stderr, which a reader thread collects as it comes.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class LiveProfile:
    """A running ``inferload profile``: its process, the API base URL and what it printed so far."""

    process: subprocess.Popen[str]
    api: str = ""
    stderr_lines: list[str] = field(default_factory=list)
    stdout: str = ""

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate`` until true; fail naming ``what`` if the process exits first or after
        ``timeout`` seconds (a guard against a hang, never a figure under test)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.process.poll() is not None:
                pytest.fail(f"inferload exited ({self.process.returncode}) before {what}\n"
                            f"{self.stderr[-3000:]}", pytrace=False)
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}\n{self.stderr[-3000:]}", pytrace=False)


@contextmanager
def live_profile(inferload_exe: Path, env: dict[str, str], args: Sequence[str]) -> Iterator[LiveProfile]:
    """Start ``inferload profile ARGS --api-port 0``; yield once its API answers. On exit the process is
    interrupted if still running (ending an ``--api-linger inf``) and reaped; ``stdout`` is then filled."""
    process = subprocess.Popen(
        [str(inferload_exe), "profile", *args, "--api-port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    run = LiveProfile(process)
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: run.stderr_lines.extend(iter(process.stderr.readline, "")),
                              daemon=True)
    reader.start()
    try:
        run.wait_until(lambda: any("HTTP API on " in line for line in run.stderr_lines), 60, "the API")
        line = next(line for line in run.stderr_lines if "HTTP API on " in line)
        run.api = line.split("HTTP API on ", 1)[1].split()[0]
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            run.stdout, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            run.stdout, _ = process.communicate()
        reader.join(10)
