"""The `timestamps` arrival pattern (`--fixed-schedule`): offsets are the trace's timestamps, windowed and
sped up, in time order; called the way the engine calls it, through the registry."""

from __future__ import annotations

from typing import Any

import pytest

from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


def replay(registry: PluginRegistry, stamps: list[float], **options: Any) -> list[tuple[int, float]]:
    (spec,) = [s for s in registry.all("arrival_pattern").values() if s.timed]
    return spec.factory(None, None, timestamps_ms=stamps, **{"speedup": 1.0, **options})


def test_offsets_are_the_timestamps_from_the_first_in_seconds(registry: PluginRegistry) -> None:
    assert replay(registry, [5000, 5000, 5250, 6000]) == [(0, 0.0), (1, 0.0), (2, 0.25), (3, 1.0)]


def test_equal_timestamps_keep_dataset_order_and_earlier_ones_go_first(registry: PluginRegistry) -> None:
    assert [i for i, _ in replay(registry, [30, 10, 10, 20, 10])] == [1, 2, 4, 3, 0]


def test_the_window_is_inclusive_and_its_start_is_time_zero(registry: PluginRegistry) -> None:
    pairs = replay(registry, [0, 100, 200, 300, 400], start_offset_ms=150, end_offset_ms=300)
    assert pairs == [(2, 0.05), (3, 0.15)]
    assert replay(registry, [0, 100], start_offset_ms=500) == []


def test_speedup_divides_every_offset(registry: PluginRegistry) -> None:
    assert replay(registry, [0, 100, 400], speedup=4) == [(0, 0.0), (1, 0.025), (2, 0.1)]
    assert replay(registry, [0, 100], speedup=0.5) == [(0, 0.0), (1, 0.2)]


@pytest.mark.parametrize(("stamps", "options", "message"), [
    ([0, 1], {"speedup": 0}, "--fixed-schedule-speedup must be a finite number > 0"),
    ([0, float("nan")], {}, "entry 2 of the trace"),
    ([0, 1], {"start_offset_ms": 5, "end_offset_ms": 1}, "is before --fixed-schedule-start-offset"),
])
def test_arguments_it_cannot_use_are_usage_errors(
    registry: PluginRegistry, stamps: list[float], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        replay(registry, stamps, **options)
