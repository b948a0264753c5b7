"""What a replayed campaign achieved and what it cost: best-so-far gap against GPU-hours.

After each search trial ends, the campaign's best so far is the config
:func:`autotuner.results.folder.pick_best` would return (the best measured score, preferring trials whose
load search ran to the end); its quality is that config's true score (goodput per GPU at its exact
SLO boundary, noise-free), and the gap is how far below the optimum it is. At the end, the answer
is what :func:`autotuner.results.answer.choose` picks after the re-measurement. GPU time counts every
trial's GPUs from its start, running trials pro rata.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from autotuner.results.records import pick_best, TrialStatus
from benchmarks.ground_truth import GroundTruth
from benchmarks.replay import CampaignReplay, TrialRun

NEAR_OPTIMUM = 0.01  # configs within this share of the optimum count as "the optimum"


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


def trajectory(truth: GroundTruth, runs: Sequence[TrialRun]) -> list[Point]:
    """One :class:`Point` per ended search trial, in end order."""
    times = [run.end_s for run in runs]
    gpu_s = busy_integral(((r.start_s, r.end_s, r.gpus) for r in runs), times)
    bench_s = busy_integral(((max(r.bench_start_s, r.start_s), r.end_s, r.gpus) for r in runs if r.bench_start_s >= 0),
                            times)
    records, points = [], []
    for n, run in enumerate(runs, 1):
        records.append(run.record())
        best = pick_best(records)
        key = runs[records.index(best)].key if best else None
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
    gpu_h: float  # the search
    bench_gpu_h: float
    total_gpu_h: float  # the search and the re-measurement
    to_3pct: Point | None
    to_1pct: Point | None
    gaps_at: dict[int, float]
    final_gap: float  # the search's best at the end, by its own (single) measurements
    answer_gap: float  # the answer after the re-measurement
    optimum_stopped: int  # trials of the optimum stopped early while the best so far was not the optimum
    optimum_stopped_any: int  # trials of the optimum stopped early, also behind an optimal best so far
    optimum_trials: int  # trials of the optimum (configs within NEAR_OPTIMUM of it)
    stopped_trials: int
    startup_failed_trials: int
    startup_failed_gpu_h: float
    rejected_trials: int


def summarise(truth: GroundTruth, strategy: str, seed: int | None, campaign: CampaignReplay,
              budgets: Sequence[int]) -> tuple[RunSummary, list[Point]]:
    """The summary of one replayed campaign (gaps after each of ``budgets`` trials) and its points."""
    runs = campaign.search
    points = trajectory(truth, runs)
    last = points[-1] if points else Point(0, 0.0, 0.0, 0.0, None, 1.0)
    failed = [r for r in runs if r.status == TrialStatus.FAILED]
    optimal = [truth.configs[r.key].score >= (1 - NEAR_OPTIMUM) * truth.optimum for r in runs]
    stopped = [r.status == TrialStatus.STOPPED_EARLY for r in runs]
    behind = [n == 0 or points[n - 1].gap > NEAR_OPTIMUM for n in range(len(runs))]  # best so far before it ended
    total = last.gpu_h + sum(r.gpu_seconds() for r in campaign.remeasure) / 3600
    answer = campaign.answer
    answer_key = next((r.key for r in runs if answer and r.trial_id == answer.search.trial_id), None)
    return RunSummary(
        surface=truth.surface.name, strategy=strategy, seed=seed, trials=len(runs), wall_h=campaign.end_s / 3600,
        gpu_h=last.gpu_h, bench_gpu_h=last.bench_gpu_h, total_gpu_h=total,
        to_3pct=first_within(points, 0.03), to_1pct=first_within(points, 0.01),
        gaps_at={n: gap_after(points, n) for n in budgets}, final_gap=last.gap, answer_gap=truth.gap(answer_key),
        optimum_stopped=sum(o and s and b for o, s, b in zip(optimal, stopped, behind)),
        optimum_stopped_any=sum(o and s for o, s in zip(optimal, stopped)), optimum_trials=sum(optimal),
        stopped_trials=sum(stopped),
        startup_failed_trials=len(failed), startup_failed_gpu_h=sum(r.gpu_seconds() for r in failed) / 3600,
        rejected_trials=sum(r.status == TrialStatus.REJECTED for r in runs),
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


__all__ = ["NEAR_OPTIMUM", "Point", "RunSummary", "Spread", "busy_integral", "first_within", "gap_after",
           "spread", "summarise", "trajectory"]
