"""Fixtures of the benchmark-suite tests: the quick surface and hand-made ground truths."""

from __future__ import annotations

from typing import Callable

import pytest

from autotuner.bench.result import LevelResult
from benchmarks.ground_truth import OK, ConfigTruth, GroundTruth, load_ground_truth
from benchmarks.space_grid import config_key
from benchmarks.surface import Surface, load_surface

Curve = Callable[[int], tuple[float, float]]  # load -> (output tok/s, p90 TPOT)


@pytest.fixture(scope="session")
def quick_surface() -> Surface:
    return load_surface("quick-llama8b-h100")


@pytest.fixture(scope="session")
def quick_truth(quick_surface: Surface) -> GroundTruth:
    return load_ground_truth(quick_surface)


def level(load: int, tok_s: float, tpot: float, duration_s: float = 10.0) -> LevelResult:
    """A level of the quick surface's scenario (its SLOs: p90 TTFT <= 1 s, p90 TPOT <= 8 ms)."""
    return LevelResult(scenario="D(1024,256)", concurrency=load, num_requests=3 * load, num_completed=3 * load,
                       num_errors=0, error_rate=0.0, duration_s=duration_s, output_tok_s=tok_s, input_tok_s=tok_s,
                       requests_per_s=1.0, ttft_p90_s=0.1, tpot_p90_s=tpot)


def linear(per_user: float, boundary: int) -> Curve:
    """Throughput per_user x load; p90 TPOT crosses the 8 ms SLO just above ``boundary``."""
    return lambda c: (per_user * c, 0.008 * c / (boundary + 0.5))


class CurveOracle:
    """Levels of made-up configs from their curves (what the simulator would answer)."""

    def __init__(self, curves: dict[str, Curve]):
        self.curves = curves

    def level(self, key: str, config: dict, scenario: str, load: int) -> LevelResult:
        tok_s, tpot = self.curves[key](load)
        return level(load, tok_s, tpot)

    def requests(self, key: str, config: dict, scenario: str, load: int) -> list[tuple[float, ...]]:
        """The level's 3 x load requests, ending evenly over its 10 s, each at the curve's TPOT:
        (end, ttft, e2e, output tokens, input tokens)."""
        _, tpot = self.curves[key](load)
        n = 3 * load
        return [(10.0 * (i + 1) / n, 0.1, 0.1 + 255 * tpot, 256, 1024) for i in range(n)]


def made_up_truth(surface: Surface, configs: list[tuple[dict, Curve, int]], startup_s: float = 20.0) -> GroundTruth:
    """A ground truth of hand-made configs: (config, curve, gpus); the true score of each is read
    off its curve at its boundary."""
    truths, curves = {}, {}
    for config, curve, gpus in configs:
        key = config_key(config)
        boundary = max(c for c in range(1, 257) if curve(c)[1] <= 0.008)
        truths[key] = ConfigTruth(config, OK, gpus, startup_s, "", curve(boundary)[0] / gpus, {"D(1024,256)": boundary})
        curves[key] = curve
    return GroundTruth(surface, truths, CurveOracle(curves), "test", 0.0)
