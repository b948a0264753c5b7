"""Fixtures of the benchmark-suite tests: the quick surface and hand-made ground truths."""

from __future__ import annotations

import pytest

from autotuner.bench.result import LevelResult
from benchmarks.ground_truth import OK, GroundTruth, TrialOutcome, load_ground_truth
from benchmarks.space_grid import config_key
from benchmarks.surface import Surface, load_surface


@pytest.fixture(scope="session")
def quick_surface() -> Surface:
    return load_surface("quick-llama8b-h100")


@pytest.fixture(scope="session")
def quick_truth(quick_surface: Surface) -> GroundTruth:
    return load_ground_truth(quick_surface)


def level(tok_s: float, duration_s: float = 10.0, concurrency: int = 8) -> LevelResult:
    """A level that meets the quick surface's SLOs with ``tok_s`` output tokens/s."""
    return LevelResult(scenario="D(1024,256)", concurrency=concurrency, num_requests=100, num_completed=100,
                       num_errors=0, error_rate=0.0, duration_s=duration_s, output_tok_s=tok_s, input_tok_s=tok_s,
                       requests_per_s=1.0, ttft_p90_s=0.1, tpot_p90_s=0.005)


def made_up_truth(surface: Surface, outcomes: list[TrialOutcome]) -> GroundTruth:
    """A ground truth of hand-made outcomes (their configs need not be in the surface's space)."""
    return GroundTruth(surface, {config_key(o.config): o for o in outcomes}, "test", 0.0)


def ok(config: dict, tok_s: list[float], *, gpus: int = 1, startup_s: float = 20.0) -> TrialOutcome:
    return TrialOutcome(config, OK, gpus, startup_s, "", tuple(level(v, concurrency=c) for v, c in zip(tok_s, (8, 32, 128))))
