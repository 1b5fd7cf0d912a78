"""A real local Ray cluster for the Ray executor's tests: a head and extra nodes started with the ``ray``
CLI (``ray start --head``, ``ray start --address``), all on 127.0.0.1, each with ``--num-cpus 1`` so that
one worker actor asking for CPU=1 fills a node and placement over the nodes is visible. Every port is
free when chosen and every node has its own temp dir under the test's, so parallel runs never collide.

Stopping kills exactly the processes of this cluster (found by its temp dir on their command lines), never
``ray stop``, which would end every Ray instance on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

RAY_ENV = {
    # explicit: Ray would otherwise turn on token auth when it finds (or, for a new local instance,
    # writes) a token in ~/.ray, shared by everyone on the machine
    "RAY_AUTH_MODE": "disabled",
    # the GCS declares a silent node dead after 3 missed checks 0.5 s apart (default: 5 of 3 s)
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_health_check_initial_delay_ms": "0",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node_ports() -> list[str]:
    first_worker_port = _free_port()
    ports = {
        "--node-manager-port": _free_port(),
        "--object-manager-port": _free_port(),
        "--dashboard-agent-listen-port": _free_port(),
        "--dashboard-agent-grpc-port": _free_port(),
        "--runtime-env-agent-port": _free_port(),
        "--metrics-export-port": _free_port(),
        "--min-worker-port": first_worker_port,
        "--max-worker-port": first_worker_port + 40,
    }
    return [str(part) for pair in ports.items() for part in pair]


@dataclass
class RayNode:
    name: str
    temp_dir: Path

    def raylet(self) -> psutil.Process:
        """This node's raylet process."""
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if "raylet" in (proc.info["name"] or "") and f"--temp_dir={self.temp_dir}" in cmdline:
                return proc
        raise AssertionError(f"no raylet for {self.name} ({self.temp_dir})")

    def node_id(self) -> str:
        for arg in self.raylet().cmdline():
            if arg.startswith("--node_id="):
                return arg.split("=", 1)[1]
        raise AssertionError(f"{self.name}'s raylet has no --node_id")

    def kill(self) -> None:
        """SIGKILL the raylet and every process under it (its worker actors): the node is lost."""
        kill_trees([self.raylet()])


@dataclass
class RayCluster:
    root: Path
    address: str = ""
    nodes: list[RayNode] = field(default_factory=list)

    def _ray(self, *args: str) -> None:
        ray = Path(sys.executable).parent / "ray"
        result = subprocess.run(
            [str(ray), *args], capture_output=True, text=True, timeout=180,
            env={**os.environ, **RAY_ENV},
        )
        if result.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args[:2])} failed: {result.stderr[-2000:]}")

    def start_head(self) -> RayNode:
        port = _free_port()
        node = RayNode("head", self.root / "head")
        self._ray("start", "--head", "--port", str(port), "--temp-dir", str(node.temp_dir),
                  "--include-dashboard", "false", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                  "--disable-usage-stats", *_node_ports())
        self.address = f"127.0.0.1:{port}"
        self.nodes.append(node)
        return node

    def add_node(self, name: str) -> RayNode:
        node = RayNode(name, self.root / name)
        for attempt in range(3):
            # the node's ports are picked free before `ray start` binds them: another process on a busy
            # machine may take one in between, so a failed start is cleared away and tried with new ports
            try:
                self._ray("start", "--address", self.address, "--temp-dir", str(node.temp_dir),
                          "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats",
                          *_node_ports())
                break
            except RuntimeError:
                kill_trees([proc for proc in psutil.process_iter(["cmdline"])
                            if any(str(node.temp_dir) in arg for arg in proc.info["cmdline"] or [])])
                if attempt == 2:
                    raise
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        """Kill every process of this cluster: those naming its root on their command line and theirs."""
        marker = str(self.root)
        kill_trees([proc for proc in psutil.process_iter(["cmdline"])
                    if any(marker in arg for arg in proc.info["cmdline"] or [])])


def kill_trees(roots: list[psutil.Process]) -> None:
    """SIGKILL ``roots`` and all their descendants, and wait for them to be gone."""
    victims = list(roots)
    for proc in roots:
        with contextlib.suppress(psutil.Error):
            victims.extend(proc.children(recursive=True))
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=10)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A head and a second node (1 CPU each), shared by the tests of one module, stopped at its end."""
    cluster = RayCluster(tmp_path_factory.mktemp("ray"))
    try:
        cluster.start_head()
        cluster.add_node("node2")
        yield cluster
    finally:
        cluster.stop()
