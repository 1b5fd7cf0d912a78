"""Arrival patterns: mean gap 1/rate, the right burstiness (CV), seeded, and clear errors."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from inferload.errors import UsageError
from inferload.registry import PluginRegistry, load_plugins

SAMPLES = 40_000


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins()


def gaps(
    registry: PluginRegistry, name: str, rate: float, seed: int = 0, **options: float | None
) -> list[float]:
    factory = registry.get("arrival_pattern", name).factory
    return list(itertools.islice(factory(rate, random.Random(seed), **options), SAMPLES))


def cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


def test_the_three_patterns_are_registered(registry: PluginRegistry) -> None:
    assert {"constant", "poisson", "gamma"} <= set(registry.all("arrival_pattern"))


def test_constant_gaps_are_exactly_one_over_rate(registry: PluginRegistry) -> None:
    assert set(gaps(registry, "constant", 250.0)) == {1 / 250.0}


@pytest.mark.parametrize("rate", [0.5, 10.0, 8000.0])
def test_poisson_has_the_asked_mean_rate_and_cv_one(registry: PluginRegistry, rate: float) -> None:
    values = gaps(registry, "poisson", rate, seed=1)
    assert 1 / statistics.fmean(values) == pytest.approx(rate, rel=0.03)
    assert cv(values) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("smoothness", [0.25, 1.0, 4.0, 16.0, 100.0])
def test_gamma_keeps_the_mean_rate_and_has_cv_one_over_sqrt_k(
    registry: PluginRegistry, smoothness: float
) -> None:
    values = gaps(registry, "gamma", 100.0, seed=2, smoothness=smoothness)
    assert 1 / statistics.fmean(values) == pytest.approx(100.0, rel=0.03)
    assert cv(values) == pytest.approx(1 / math.sqrt(smoothness), rel=0.05)


def test_gamma_without_smoothness_is_poisson_like(registry: PluginRegistry) -> None:
    assert cv(gaps(registry, "gamma", 50.0, seed=3, smoothness=None)) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("name", ["poisson", "gamma"])
def test_the_same_seed_gives_the_same_schedule(registry: PluginRegistry, name: str) -> None:
    assert gaps(registry, name, 20.0, seed=7) == gaps(registry, name, 20.0, seed=7)
    assert gaps(registry, name, 20.0, seed=7) != gaps(registry, name, 20.0, seed=8)


@pytest.mark.parametrize("name", ["constant", "poisson", "gamma"])
@pytest.mark.parametrize("rate", [0, -1.0, float("nan"), float("inf"), True])
def test_an_unusable_rate_fails_when_the_factory_is_called(
    registry: PluginRegistry, name: str, rate: float
) -> None:
    with pytest.raises(UsageError, match="--request-rate"):
        registry.get("arrival_pattern", name).factory(rate, random.Random(0))


@pytest.mark.parametrize("smoothness", [0, -2.0, float("nan")])
def test_an_unusable_smoothness_is_a_usage_error(registry: PluginRegistry, smoothness: float) -> None:
    with pytest.raises(UsageError, match="--arrival-smoothness"):
        registry.get("arrival_pattern", "gamma").factory(10.0, random.Random(0), smoothness=smoothness)
