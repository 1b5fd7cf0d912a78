"""Real HTTP scrape targets on loopback for the server-metrics tests: a DCGM exporter fixture, garbage, slow
and vanishing endpoints, each a ThreadingHTTPServer on an ephemeral port."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DCGM_GPUS = (
    ("0", "GPU-5fd4f087-86f3-7a43-b711-4771313afc50"),
    ("1", "GPU-a2b9e3c1-0d6e-4f4b-9c1a-2b7c8e9d0f11"),
)
POWER_W = {"0": 312.5, "1": 287.25}
ENERGY_STEP_MJ = 50_000
"""Each scrape, every GPU's energy counter grows by this many millijoules."""


def dcgm_body(scrape: int) -> str:
    """What dcgm-exporter serves (its default counters), for the ``scrape``-th request (0-based)."""
    lines = []
    families = (
        ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", lambda gpu: 1980),
        ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", lambda gpu: 87 + int(gpu)),
        ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", lambda gpu: 71234),
        ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", lambda gpu: POWER_W[gpu]),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
         "Total energy consumption since boot (in mJ).", lambda gpu: 10_000_000 + scrape * ENERGY_STEP_MJ),
    )
    for name, kind, help_text, value in families:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for gpu, uuid in DCGM_GPUS:
            lines.append(f'{name}{{gpu="{gpu}",UUID="{uuid}",pci_bus_id="00000000:0{gpu}:00.0",'
                         f'device="nvidia{gpu}",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"}} '
                         f"{value(gpu)}")
    return "\n".join(lines) + "\n"


RESTART_STEP = 5
"""Each scrape, the restarting counter grows by this much (the scrape across its restart included)."""


def restarting_counter_body(scrape: int, restart_at: int) -> str:
    """A server whose ``jobs_done_total`` counter restarts from 0 (a server restart) before its
    ``restart_at``-th scrape: 1000 + 5 n before, 5 (n - restart_at + 1) from then on."""
    value = 1000 + RESTART_STEP * scrape if scrape < restart_at else RESTART_STEP * (scrape - restart_at + 1)
    return f"# HELP jobs_done_total Jobs done.\n# TYPE jobs_done_total counter\njobs_done_total {value}\n"


class ScrapeTarget:
    """A /metrics server; ``respond(n)`` gives (status, body) for the n-th request (0-based), or None to
    drop the connection. ``delay`` sleeps before answering; ``basic`` ('user:pass') requires Basic auth."""

    def __init__(self, respond: Callable[[int], tuple[int, str]], *, delay: float = 0.0,
                 basic: str | None = None, vanish_after: int | None = None) -> None:
        self.requests = 0
        self.authorized = 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                n = target.requests
                target.requests += 1
                if delay:
                    time.sleep(delay)
                if basic is not None:
                    expected = "Basic " + base64.b64encode(basic.encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_error(401)
                        return
                    target.authorized += 1
                status, body = respond(n)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if vanish_after is not None and target.requests >= vanish_after:
                    threading.Thread(target=target.stop, daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self.server.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"
