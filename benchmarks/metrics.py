"""What a replayed campaign achieved and what it cost: best-so-far gap against GPU-hours.

After each trial ends, the campaign's answer is the config :func:`autotuner.results.pick_best` would
return (the best feasible score, preferring trials that ran their whole sweep); its quality is
that config's *full-sweep* ground-truth score, and the gap is how far below the optimum it is.
GPU time counts every trial's GPUs from its start, running trials pro rata.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from autotuner.results import DONE, FAILED, REJECTED
from benchmarks.ground_truth import GroundTruth
from benchmarks.replay import TrialRun


@dataclass(frozen=True)
class Point:
    """The campaign right after its ``trials``-th trial ended."""

    trials: int
    time_s: float  # modelled wall time since the campaign started
    gpu_h: float  # GPU-hours used by then
    bench_gpu_h: float  # of which with a benchmark running (engines up, genai-bench loading them)
    incumbent: str | None  # config_key of the answer so far
    gap: float  # (optimum - incumbent's true score) / optimum; 1.0 while there is no answer


def busy_integral(intervals: Iterable[tuple[float, float, float]], times: Sequence[float]) -> list[float]:
    """For each of the ascending ``times``: the integral up to it of the summed weights of the
    (start, end, weight) intervals covering it (GPU-seconds when weights are GPUs).

    >>> busy_integral([(0, 10, 2), (5, 15, 1)], [5, 10, 20])
    [10.0, 25.0, 30.0]
    """
    changes: list[tuple[float, float]] = []
    for start, end, weight in intervals:
        if end > start and weight:
            changes += [(start, weight), (end, -weight)]
    changes.sort()
    out, total, rate, last, i = [], 0.0, 0.0, 0.0, 0
    for t in times:
        while i < len(changes) and changes[i][0] <= t:
            at, delta = changes[i]
            total += rate * (at - last)
            rate, last = rate + delta, at
            i += 1
        out.append(total + rate * (t - last))
    return out


class Incumbent:
    """:func:`autotuner.results.pick_best`, kept up to date one ended trial at a time."""

    def __init__(self) -> None:
        self._complete: TrialRun | None = None
        self._any: TrialRun | None = None

    def add(self, run: TrialRun) -> None:
        if not run.feasible or run.status == REJECTED:
            return
        if self._any is None or run.score > self._any.score:
            self._any = run
        if run.status == DONE and (self._complete is None or run.score > self._complete.score):
            self._complete = run

    @property
    def best(self) -> TrialRun | None:
        return self._complete or self._any


def trajectory(truth: GroundTruth, runs: Sequence[TrialRun]) -> list[Point]:
    """One :class:`Point` per ended trial, in end order."""
    times = [run.end_s for run in runs]
    gpu_s = busy_integral(((r.start_s, r.end_s, r.gpus) for r in runs), times)
    bench_s = busy_integral(((r.bench_start_s, r.end_s, r.gpus) for r in runs), times)
    incumbent, points = Incumbent(), []
    for n, run in enumerate(runs, 1):
        incumbent.add(run)
        key = incumbent.best.key if incumbent.best else None
        points.append(Point(n, run.end_s, gpu_s[n - 1] / 3600, bench_s[n - 1] / 3600, key, truth.gap(key)))
    return points


def first_within(points: Sequence[Point], tolerance: float) -> Point | None:
    """The first point whose answer is within ``tolerance`` of the optimum (None: never)."""
    return next((p for p in points if p.gap <= tolerance + 1e-12), None)


def gap_after(points: Sequence[Point], trials: int) -> float:
    """The gap once ``trials`` trials ended (the final gap of a campaign that ended before)."""
    if not points:
        return 1.0
    return points[min(trials, len(points)) - 1].gap


@dataclass(frozen=True)
class RunSummary:
    """One strategy on one surface with one seed."""

    surface: str
    strategy: str
    seed: int | None  # None: a deterministic strategy
    trials: int
    wall_h: float
    gpu_h: float
    bench_gpu_h: float
    to_3pct: Point | None
    to_1pct: Point | None
    gaps_at: dict[int, float]
    final_gap: float
    startup_failed_trials: int
    startup_failed_gpu_h: float
    rejected_trials: int


def summarise(truth: GroundTruth, strategy: str, seed: int | None, runs: Sequence[TrialRun],
              budgets: Sequence[int]) -> tuple[RunSummary, list[Point]]:
    """The summary of one replayed campaign (gaps after each of ``budgets`` trials) and its points."""
    points = trajectory(truth, runs)
    last = points[-1] if points else Point(0, 0.0, 0.0, 0.0, None, 1.0)
    failed = [r for r in runs if r.status == FAILED]
    return RunSummary(
        surface=truth.surface.name, strategy=strategy, seed=seed, trials=len(runs), wall_h=last.time_s / 3600,
        gpu_h=last.gpu_h, bench_gpu_h=last.bench_gpu_h,
        to_3pct=first_within(points, 0.03), to_1pct=first_within(points, 0.01),
        gaps_at={n: gap_after(points, n) for n in budgets}, final_gap=last.gap,
        startup_failed_trials=len(failed), startup_failed_gpu_h=sum(r.gpu_seconds() for r in failed) / 3600,
        rejected_trials=sum(r.status == REJECTED for r in runs),
    ), points


@dataclass(frozen=True)
class Spread:
    """Median and range over seeds; ``reached`` counts seeds with a value (the rest never got there)."""

    median: float  # inf when half the seeds or more never got there
    low: float
    high: float
    reached: int
    runs: int

    def text(self, pct: bool = False) -> str:
        """``median [low-high]`` (percent with one decimal, else three significant digits)."""
        def fmt(v: float) -> str:
            if math.isinf(v):
                return "never"
            if pct:
                return f"{v * 100:.1f}%"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        if self.runs == 1:
            return fmt(self.median)
        extra = "" if self.reached == self.runs else f", {self.reached}/{self.runs} seeds"
        return f"{fmt(self.median)} [{fmt(self.low)}-{fmt(self.high)}{extra}]"


def spread(values: Sequence[float | None]) -> Spread:
    """Median and range of per-seed values; None (never reached) counts as infinitely large."""
    full = [math.inf if v is None else v for v in values]
    got = [v for v in full if not math.isinf(v)]
    return Spread(statistics.median(full) if full else math.inf, min(full, default=math.inf),
                  max(full, default=math.inf), len(got), len(full))


__all__ = ["Incumbent", "Point", "RunSummary", "Spread", "busy_integral", "first_within", "gap_after",
           "spread", "summarise", "trajectory"]
