"""Fixtures that start real simulator processes on free loopback ports.

Test modules load this file with ``pytest_plugins = ["simulator_fixtures"]`` (never import it: pytest
rewrites its asserts only when it loads it as a plugin); helpers and types are in simulator_wire.py.
Configs come from ``simulator_wire.simulator_config``, which ignores the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from inferload_plugins.simulator.embedded import EmbeddedSimulator, start_embedded
from simulator_wire import StartSimulator, simulator_config


@pytest.fixture
def start_simulator() -> Iterator[StartSimulator]:
    """Start simulators with given settings; all are stopped (and must exit 0) at teardown."""
    started: list[EmbeddedSimulator] = []

    def start(**settings: Any) -> EmbeddedSimulator:
        simulator = start_embedded(simulator_config(**settings))
        started.append(simulator)
        return simulator

    yield start
    codes = [simulator.stop() for simulator in started]
    assert codes == [0] * len(codes), f"simulators exited with {codes}"


@pytest.fixture(scope="module")
def fast_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSimulator]:
    """One zero-latency simulator per test module, with a truth log."""
    truth_log = tmp_path_factory.mktemp("truth") / "truth.jsonl"
    simulator = start_embedded(simulator_config(fast=True, truth_log=truth_log))
    yield simulator
    assert simulator.stop() == 0
