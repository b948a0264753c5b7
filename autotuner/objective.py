"""How a trial is scored from its load levels.

The default is goodput per GPU: the best output tokens/s per GPU among the levels that meet the
SLOs. The score is always maximised. A trial that meets no SLO is *infeasible*: its score is
negative (minus how far its best level is from the SLOs), so the search learns to avoid the
region without the value looking like real throughput::

    slo = SLO(ttft_p90_s=1.0, tpot_p90_s=0.05, max_error_rate=0.01)
    score = GoodputPerGpu(slo).score(levels, gpus=2)
    score.value, score.feasible, score.best_level
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from autotuner.bench.result import LevelResult
from autotuner.spec import ObjectiveSpec

# Scores of trials that never produced a level: below any infeasible-but-measured trial.
STARTUP_FAILED_SCORE = -100.0
REJECTED_SCORE = -100.0


@dataclass(frozen=True)
class SLO:
    ttft_p90_s: float | None = None
    tpot_p90_s: float | None = None
    max_error_rate: float = 0.01

    def violations(self, level: LevelResult) -> list[str]:
        """What a level breaks, as short phrases ('' list when it meets every limit)."""
        out = []
        if level.all_failed:
            return ["every request failed"]
        if self.ttft_p90_s is not None and (level.ttft_p90_s is None or level.ttft_p90_s > self.ttft_p90_s):
            out.append(f"p90 TTFT {_ms(level.ttft_p90_s)} > {_ms(self.ttft_p90_s)}")
        if self.tpot_p90_s is not None and (level.tpot_p90_s is None or level.tpot_p90_s > self.tpot_p90_s):
            out.append(f"p90 TPOT {_ms(level.tpot_p90_s)} > {_ms(self.tpot_p90_s)}")
        if level.error_rate > self.max_error_rate:
            out.append(f"error rate {level.error_rate:.1%} > {self.max_error_rate:.1%}")
        return out

    def excess(self, level: LevelResult) -> float:
        """How far a level is from the SLOs: the largest ratio measured/limit (<= 1 means met)."""
        if level.all_failed:
            return 10.0
        ratios = [0.0]
        if self.ttft_p90_s is not None:
            ratios.append((level.ttft_p90_s or float("inf")) / self.ttft_p90_s)
        if self.tpot_p90_s is not None:
            ratios.append((level.tpot_p90_s or float("inf")) / self.tpot_p90_s)
        if self.max_error_rate > 0:
            ratios.append(level.error_rate / self.max_error_rate)
        elif level.error_rate > 0:
            ratios.append(10.0)
        return min(max(ratios), 10.0)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f}ms"


@dataclass(frozen=True)
class Score:
    """A trial's score after some levels."""

    value: float  # maximised; negative means infeasible
    feasible: bool
    best_level: int | None = None  # index into the levels, of the level that gave the value
    note: str = ""
    per_level: tuple[bool, ...] = field(default_factory=tuple)  # which levels met the SLOs


class Objective(Protocol):
    """Scores a trial from the levels it has run so far (the same call at every level)."""

    name: str
    unit: str

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score: ...


def goodput_per_gpu(level: LevelResult, gpus: int) -> float:
    """Output tokens/s per GPU of one level."""
    return level.output_tok_s / max(gpus, 1)


@dataclass(frozen=True)
class GoodputPerGpu:
    """Maximise output tokens/s per GPU at the best level that meets the SLOs."""

    slo: SLO
    name: str = "goodput_per_gpu"
    unit: str = "output tok/s per GPU"

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score:
        met = tuple(not self.slo.violations(lv) for lv in levels)
        feasible = [i for i, ok in enumerate(met) if ok]
        if feasible:
            best = max(feasible, key=lambda i: goodput_per_gpu(levels[i], gpus))
            return Score(goodput_per_gpu(levels[best], gpus), True, best, per_level=met)
        if not levels:
            return Score(STARTUP_FAILED_SCORE, False, note="no level ran", per_level=met)
        closest = min(range(len(levels)), key=lambda i: self.slo.excess(levels[i]))
        why = "; ".join(self.slo.violations(levels[closest]))
        return Score(-self.slo.excess(levels[closest]), False, closest, note=f"SLO missed: {why}", per_level=met)


@dataclass(frozen=True)
class LatencyAtConcurrency:
    """Minimise a latency percentile at one concurrency (score = -seconds), within the error budget."""

    metric: str
    concurrency: int
    slo: SLO
    name: str = "latency"
    unit: str = "-seconds"

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score:
        met = tuple(lv.error_rate <= self.slo.max_error_rate and not lv.all_failed for lv in levels)
        # Before the target level has run, the latest clean level below it stands in, so ASHA
        # can already compare trials at early rungs.
        clean = [i for i, lv in enumerate(levels)
                 if met[i] and lv.concurrency <= self.concurrency and getattr(lv, self.metric) is not None]
        if clean:
            best = max(clean, key=lambda i: levels[i].concurrency)
            lv = levels[best]
            note = "" if lv.concurrency == self.concurrency else f"proxy at concurrency {lv.concurrency}"
            return Score(-getattr(lv, self.metric), True, best, note=note, per_level=met)
        note = "no level ran" if not levels else "every level broke the error budget"
        return Score(STARTUP_FAILED_SCORE if not levels else -10.0, False, note=note, per_level=met)


def objective_from_spec(spec: ObjectiveSpec) -> Objective:
    """The objective a task asks for."""
    slo = SLO(spec.slo.ttft_p90_s, spec.slo.tpot_p90_s, spec.slo.max_error_rate)
    if spec.kind == "latency":
        assert spec.latency_concurrency is not None
        return LatencyAtConcurrency(spec.latency_metric, spec.latency_concurrency, slo)
    return GoodputPerGpu(slo)
