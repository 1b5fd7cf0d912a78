"""Start the simulator in its own process on a free loopback port: the default target of `inferload profile`.

The parent binds the listening socket itself (``127.0.0.1``, port 0) and hands it to the child, so the URL
is known before the child runs and no other process can take the port in between. Readiness is one
``GET /health`` on that socket: the kernel queues the connection until the child accepts it, so there is
no polling. The child watches its stdin pipe and stops when the parent's end closes — including when
the parent is killed — and it runs in its own session so a terminal Ctrl-C reaches only the parent, which
decides when to stop it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from typing import IO, Any

from .config import SimulatorConfig

READY_TIMEOUT_S = 10.0


class EmbeddedSimulator:
    """A running embedded simulator: its ``url`` and how to stop it. Also a context manager."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], config: SimulatorConfig) -> None:
        self.url = url
        self.process = process
        self.config = config
        self._finalizer = weakref.finalize(self, _terminate, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); returns the exit code (0 after a clean stop)."""
        self._finalizer.detach()
        return _terminate(self.process, timeout_s)

    def __enter__(self) -> EmbeddedSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedSimulator(url={self.url!r}, pid={self.pid})"


class EmbeddedProvider:
    """The ``simulator`` target (:class:`inferload.target.TargetProvider`): reads ``INFERLOAD_SIM_*`` once,
    so the model name is known before the server starts."""

    def __init__(self) -> None:
        self.config = SimulatorConfig()
        self.model = self.config.served_model_name

    def start(self) -> EmbeddedSimulator:
        return start_embedded(self.config)


def start_embedded(
    config: SimulatorConfig | None = None,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
    stderr: int | IO[Any] | None = None,
) -> EmbeddedSimulator:
    """Start a simulator process on a free ``127.0.0.1`` port and return once it answers ``/health``.

    ``config.host`` and ``config.port`` are ignored (the port is picked here); every other setting
    applies. ``stderr`` is where the child's error output goes (default: inherited). Raises
    ``RuntimeError`` naming the exit code if the process dies or does not answer in ``ready_timeout_s``.
    """
    config = config or SimulatorConfig()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        host, port = listener.getsockname()[:2]
        process = subprocess.Popen(
            [sys.executable, "-m", "inferload_plugins.simulator", "--listen-fd", str(listener.fileno()),
             "--watch-stdin", "--config-json", config.model_dump_json()],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
            pass_fds=(listener.fileno(),), start_new_session=True,
        )
    finally:
        listener.close()  # the child holds the socket now; if it dies, waiting clients see a reset
    url = f"http://{host}:{port}"
    try:
        _wait_healthy(host, port, ready_timeout_s)
    except OSError as exc:
        code = _terminate(process, 1.0)
        raise RuntimeError(
            f"the embedded simulator did not become ready at {url} within {ready_timeout_s:g} s "
            f"({type(exc).__name__}: {exc}; process exit code {code}); run `inferload simulate` to see why"
        ) from exc
    return EmbeddedSimulator(url, process, config)


def _wait_healthy(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((host, port), timeout=timeout_s) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nhost: simulator\r\nconnection: close\r\n\r\n")
        reply = b""
        while True:
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            data = conn.recv(4096)
            if not data:
                break
            reply += data
    if not reply.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"/health answered {reply[:60]!r}")


def _terminate(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> int:
    """SIGTERM, wait, SIGKILL if need be. The stdin pipe closes last: its EOF is the parent-death signal,
    and a child already stopping on EOF could otherwise meet the SIGTERM with its handlers gone."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdin is not None and not process.stdin.closed:
        process.stdin.close()
    return process.returncode
