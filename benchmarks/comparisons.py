"""The numbers the goals are judged by, from the runs of one surface.

* how many GPU-hours our search (TPE + ASHA) needs to get within a tolerance of the optimum, as a
  share of what the grid needs to get there in its hand-written order;
* what ASHA saves: the same TPE search with and without ASHA, GPU time to the same quality.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from benchmarks.metrics import Spread, first_within, spread
from benchmarks.search_bench import SurfaceResult

OURS, OURS_GRACE3, NO_ASHA = "tpe_asha", "tpe_asha_grace3", "tpe"


def gpu_h_to(result: SurfaceResult, strategy: str, tolerance: float, *, bench_only: bool = False) -> Spread:
    """GPU-hours each run of a strategy needed to get within ``tolerance`` (None: never)."""
    values = []
    for points in result.by_strategy[strategy].points:
        hit = first_within(points, tolerance)
        values.append(None if hit is None else (hit.bench_gpu_h if bench_only else hit.gpu_h))
    return spread(values)


def grid_gpu_h_to(result: SurfaceResult, tolerance: float) -> float:
    """GPU-hours the grid needs in its loop order over the whole space (inf: never)."""
    hit = first_within(result.grid_whole_space.points[0], tolerance)
    return math.inf if hit is None else hit.gpu_h


def share_of_grid(result: SurfaceResult, tolerance: float, strategy: str = OURS) -> Spread:
    """Per seed: a strategy's GPU-hours to ``tolerance`` over the grid's (inf: never got there)."""
    grid = grid_gpu_h_to(result, tolerance)
    values = []
    for points in result.by_strategy[strategy].points:
        hit = first_within(points, tolerance)
        values.append(None if hit is None else hit.gpu_h / grid)
    return spread(values)


@dataclass(frozen=True)
class AshaSaving:
    """TPE with ASHA against TPE alone, at one quality target."""

    tolerance: float
    with_asha: Spread  # GPU-hours to the target
    without: Spread
    bench_with_asha: Spread  # benchmark GPU-hours (engines up) to the target
    bench_without: Spread

    @staticmethod
    def _saving(a: Spread, b: Spread) -> float:
        if math.isinf(a.median) or math.isinf(b.median):
            return math.nan
        return 1.0 - a.median / b.median

    @property
    def total(self) -> float:
        """1 - median(with ASHA) / median(without): nan when either median never got there."""
        return self._saving(self.with_asha, self.without)

    @property
    def bench(self) -> float:
        return self._saving(self.bench_with_asha, self.bench_without)


def asha_saving(result: SurfaceResult, tolerance: float, with_asha: str = OURS) -> AshaSaving:
    return AshaSaving(tolerance, gpu_h_to(result, with_asha, tolerance), gpu_h_to(result, NO_ASHA, tolerance),
                      gpu_h_to(result, with_asha, tolerance, bench_only=True),
                      gpu_h_to(result, NO_ASHA, tolerance, bench_only=True))


def bench_gpu_h_per_trial(result: SurfaceResult, strategy: str) -> float:
    """Median over seeds of the benchmark GPU-hours per trial over the whole trial budget."""
    return statistics.median(s.bench_gpu_h / max(s.trials, 1) for s in result.by_strategy[strategy].summaries)


__all__ = ["AshaSaving", "NO_ASHA", "OURS", "OURS_GRACE3", "asha_saving", "bench_gpu_h_per_trial", "gpu_h_to",
           "grid_gpu_h_to", "share_of_grid"]
