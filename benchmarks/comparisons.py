"""The numbers the goals are judged by, from the runs of one surface.

* how many GPU-hours a strategy needs to get within a tolerance of the optimum, and that as a share
  of what the grid needs in its hand-written order over the whole space;
* what early stopping saves: our search with and without it, GPU time to the same quality;
* how good the answer is after the re-measurement, judged by the true score.

The two ratios of medians come with a bootstrap interval over seeds (:func:`ratio_interval`): with
10-20 seeds a median moves by tens of percent when a few seeds change, and a goal met or missed by
a point says nothing without it.
"""

from __future__ import annotations

import math
import random
import statistics
from typing import Sequence

from benchmarks.metrics import Spread, first_within, spread
from benchmarks.search_bench import SurfaceResult
from benchmarks.strategies import OURS, OURS_NO_ES, RANDOM

ANSWER_TOLERANCE = 0.03
INTERVAL_LEVEL = 0.95  # of the bootstrap intervals
RESAMPLES = 2000


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
    return _ratio(a.median, b.median)


def _ratio(a: float, b: float) -> float:
    if math.isinf(a):
        return math.nan
    return 0.0 if math.isinf(b) else a / b


def bootstrap_ratio_interval(a: Sequence[float | None], b: Sequence[float | None], *, level: float = INTERVAL_LEVEL,
                             resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(a) / median(b), paired: ``a[i]`` and ``b[i]`` are
    two strategies' values for seed i, and each resample draws seeds with replacement, keeping both.
    None (never got there) counts as infinitely large; a resample where ``a``'s median is infinite
    counts as an infinite ratio.

    >>> bootstrap_ratio_interval([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])
    (0.5, 0.5)
    >>> low, high = bootstrap_ratio_interval([1.0, 5.0, 2.0, None], [4.0, 4.0, 9.0, 6.0])
    >>> 0.1 < low < high
    True
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values needed, got {len(a)} and {len(b)}")
    full_a = [math.inf if v is None else v for v in a]
    full_b = [math.inf if v is None else v for v in b]
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        seeds = [rng.randrange(len(a)) for _ in a]
        ratio = _ratio(statistics.median(full_a[i] for i in seeds), statistics.median(full_b[i] for i in seeds))
        ratios.append(math.inf if math.isnan(ratio) else ratio)
    ratios.sort()
    tail = (1.0 - level) / 2
    return ratios[int(tail * resamples)], ratios[min(resamples - 1, int((1.0 - tail) * resamples))]


def ratio_interval(result: SurfaceResult, tolerance: float, strategy: str, other: str) -> tuple[float, float]:
    """Bootstrap interval over seeds (:func:`bootstrap_ratio_interval`) of the median GPU-hours to
    ``tolerance``, ``strategy`` over ``other``."""
    return bootstrap_ratio_interval(gpu_h_values(result, strategy, tolerance), gpu_h_values(result, other, tolerance))


def saving(result: SurfaceResult, tolerance: float, strategy: str = OURS, without: str = OURS_NO_ES) -> float:
    """1 - GPU-hours to ``tolerance`` with early stopping / without (medians over seeds)."""
    return 1.0 - ratio_of_medians(gpu_h_to(result, strategy, tolerance), gpu_h_to(result, without, tolerance))


def saving_interval(result: SurfaceResult, tolerance: float, strategy: str = OURS,
                    without: str = OURS_NO_ES) -> tuple[float, float]:
    """Bootstrap interval over seeds of :func:`saving`."""
    low, high = ratio_interval(result, tolerance, strategy, without)
    return 1.0 - high, 1.0 - low


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


__all__ = ["ANSWER_TOLERANCE", "INTERVAL_LEVEL", "RESAMPLES", "answers_within", "bootstrap_ratio_interval", "gpu_h_to",
           "gpu_h_values", "grid_gpu_h_to", "median_of", "optimum_stopped", "ratio_interval", "ratio_of_medians", "saving",
           "saving_interval", "share_of_grid", "versus_random"]
