"""The numbers the goals are judged by, from the runs of one surface.

* how many GPU-hours a strategy needs to get within a tolerance of the optimum, and that as a share
  of what the grid needs in its hand-written order over the whole space;
* what early stopping saves: our search with and without it, GPU time to the same quality;
* how good the answer is after the re-measurement, judged by the true score.
"""

from __future__ import annotations

import math
import statistics

from benchmarks.metrics import Spread, first_within, spread
from benchmarks.search_bench import SurfaceResult
from benchmarks.strategies import OURS, OURS_NO_ES, RANDOM

ANSWER_TOLERANCE = 0.03


def gpu_h_values(result: SurfaceResult, strategy: str, tolerance: float) -> list[float | None]:
    """Per seed: GPU-hours a strategy needed to get within ``tolerance`` (None: never)."""
    hits = [first_within(points, tolerance) for points in result.by_strategy[strategy].points]
    return [None if hit is None else hit.gpu_h for hit in hits]


def gpu_h_to(result: SurfaceResult, strategy: str, tolerance: float) -> Spread:
    """GPU-hours each run of a strategy needed to get within ``tolerance``: median and range."""
    return spread(gpu_h_values(result, strategy, tolerance))


def grid_gpu_h_to(result: SurfaceResult, tolerance: float) -> float:
    """GPU-hours the grid needs in its loop order over the whole space (inf: never)."""
    hit = first_within(result.grid_whole_space.points[0], tolerance)
    return math.inf if hit is None else hit.gpu_h


def share_of_grid(result: SurfaceResult, tolerance: float, strategy: str = OURS) -> Spread:
    """Per seed: a strategy's GPU-hours to ``tolerance`` over the grid's (inf: never got there)."""
    grid = grid_gpu_h_to(result, tolerance)
    return spread([None if v is None else v / grid for v in gpu_h_values(result, strategy, tolerance)])


def ratio_of_medians(a: Spread, b: Spread) -> float:
    """median(a) / median(b): 0 when only b never got there (half its seeds or more), nan when a never did."""
    if math.isinf(a.median):
        return math.nan
    return 0.0 if math.isinf(b.median) else a.median / b.median


def saving(result: SurfaceResult, tolerance: float, strategy: str = OURS, without: str = OURS_NO_ES) -> float:
    """1 - GPU-hours to ``tolerance`` with early stopping / without (medians over seeds)."""
    return 1.0 - ratio_of_medians(gpu_h_to(result, strategy, tolerance), gpu_h_to(result, without, tolerance))


def versus_random(result: SurfaceResult, tolerance: float, strategy: str = OURS) -> float:
    """Median GPU-hours to ``tolerance``: ours over plain random search's."""
    return ratio_of_medians(gpu_h_to(result, strategy, tolerance), gpu_h_to(result, RANDOM, tolerance))


def answers_within(result: SurfaceResult, strategy: str = OURS, tolerance: float = ANSWER_TOLERANCE) -> int:
    """Seeds whose answer (after the re-measurement) is within ``tolerance`` of the optimum."""
    return sum(s.answer_gap <= tolerance + 1e-12 for s in result.by_strategy[strategy].summaries)


def optimum_stopped(result: SurfaceResult, strategy: str = OURS) -> tuple[int, int, int]:
    """(trials of the optimum stopped while the best so far was not the optimum, stopped at all,
    trials of the optimum), over every seed."""
    s = result.by_strategy[strategy].summaries
    return (sum(x.optimum_stopped for x in s), sum(x.optimum_stopped_any for x in s),
            sum(x.optimum_trials for x in s))


def median_of(result: SurfaceResult, strategy: str, field: str) -> float:
    return statistics.median(getattr(s, field) for s in result.by_strategy[strategy].summaries)


__all__ = ["ANSWER_TOLERANCE", "answers_within", "gpu_h_to", "gpu_h_values", "grid_gpu_h_to", "median_of", "optimum_stopped",
           "ratio_of_medians", "saving", "share_of_grid", "versus_random"]
