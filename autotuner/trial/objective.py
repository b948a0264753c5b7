"""How a trial is scored from its load levels.

The default is goodput per GPU at the SLO boundary: the output tokens/s per GPU where the latencies
reach their limits (:func:`goodput_at_crossing`). The highest load that meets the SLOs alone would
be a step function of the config: at a boundary of 7 users one user is 14% of the score, and two
configs whose p90 TTFT at 7 users differ by 2% (1.485 s and 1.519 s against 1.5 s) would score 14%
apart, a difference no measurement with 4% noise can resolve. So the score goes on from the highest
passing level towards the failing level next above it, as far as the latencies' ratio to their
limits says the limit is crossed. With several traffic scenarios, each is scored on its own levels
and the trial scores its weakest scenario (the capacity that meets the SLOs on every traffic
shape). Scores are maximised.

Infeasibility is a constraint, not a number mixed into the throughput scale: a trial that meets
the SLOs at no level has ``feasible=False`` and ``violation > 0`` (how far its closest level is
from the SLOs), which the sampler receives as a constraint; its ``value`` is 0. ``bound`` is an
upper bound on the score the trial can still reach (see :mod:`autotuner.trial.loadsearch`): once a
level at load c breaks an SLO, every passing level lies below c and makes no more throughput than
the failing one did::

    slo = SLO(ttft_p90_s=1.0, tpot_p90_s=0.05, max_error_rate=0.01)
    score = GoodputPerGpu(slo).score(levels, gpus=2)
    score.value, score.feasible, score.bound, score.violation
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

from autotuner.bench.result import LevelResult
from autotuner.plugins.registry import Registry
from autotuner.task.spec import ObjectiveSpec, SLOSpec

# How far from the SLOs a trial that never produced a level counts (start-up failure, rejected).
NO_LEVEL_VIOLATION = 10.0


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

    def met(self, level: LevelResult) -> bool:
        return not self.violations(level)

    def excess(self, level: LevelResult) -> float:
        """How far a level is from the SLOs: the largest ratio measured/limit (<= 1 means met)."""
        if level.all_failed:
            return NO_LEVEL_VIOLATION
        ratios = [0.0]
        if self.ttft_p90_s is not None:
            ratios.append((level.ttft_p90_s or math.inf) / self.ttft_p90_s)
        if self.tpot_p90_s is not None:
            ratios.append((level.tpot_p90_s or math.inf) / self.tpot_p90_s)
        if self.max_error_rate > 0:
            ratios.append(level.error_rate / self.max_error_rate)
        elif level.error_rate > 0:
            ratios.append(NO_LEVEL_VIOLATION)
        return min(max(ratios), NO_LEVEL_VIOLATION)

    @classmethod
    def from_spec(cls, spec: SLOSpec) -> "SLO":
        return cls(spec.ttft_p90_s, spec.tpot_p90_s, spec.max_error_rate)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f}ms"


@dataclass(frozen=True)
class Score:
    """A trial's score after some levels."""

    value: float  # maximised; 0 when infeasible
    feasible: bool
    best_level: int | None = None  # index into the levels, of the level that gave the value
    note: str = ""
    per_level: tuple[bool, ...] = field(default_factory=tuple)  # which levels met the SLOs
    bound: float = math.inf  # the most the trial can still reach (inf: not bounded yet)
    violation: float = 0.0  # constraint for the sampler: > 0 when infeasible (how far from the SLOs)
    bound_note: str = ""  # why the bound holds, for the stop reason


class Objective(Protocol):
    """Scores a trial from the levels it has run so far (the same call at every level)."""

    name: str
    unit: str
    slo: SLO

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score: ...


def goodput_per_gpu(level: LevelResult, gpus: int) -> float:
    """Output tokens/s per GPU of one level."""
    return level.output_tok_s / max(gpus, 1)


# A failing level counts for the crossing only this close above the passing one (a share of its
# load, or one user): latency grows convexly with load, so a straight line over a wider span would
# put the crossing too high.
CROSSING_SPAN = 0.25


def crossing_fraction(passing: LevelResult, failing: LevelResult, slo: SLO) -> float:
    """How far from a passing level towards a failing one the SLOs are reached, from 0 to 1: linear
    in the ratio of the binding latency to its limit (:meth:`SLO.excess`). 0 when the failing level
    says nothing about where (it failed every request, ended as soon as it provably failed, or
    measured no worse than the passing one)."""
    low, high = slo.excess(passing), slo.excess(failing)
    if failing.all_failed or failing.ended_early or high <= low:
        return 0.0
    return min(1.0, max(0.0, (1.0 - low) / (high - low)))


def goodput_at_crossing(passing: LevelResult, failing: LevelResult | None, slo: SLO, gpus: int) -> float:
    """Goodput per GPU where the latencies reach the SLOs: the passing level's, plus the share
    :func:`crossing_fraction` of what the failing level next above made more. The passing level's
    own when there is no failing level within :data:`CROSSING_SPAN` above it.

    >>> def at(users, tok_s, ttft): return LevelResult("D(4096,256)", users, 70, 70, 0, 0.0, 60.0, tok_s, 0.0, 0.0,
    ...                                                 ttft_p90_s=ttft)
    >>> slo = SLO(ttft_p90_s=1.5)   # 1.485 s at 7 users, 1.693 s at 8: crossed 7% of the way
    >>> round(goodput_at_crossing(at(7, 335, 1.485), at(8, 368, 1.693), slo, gpus=4), 2)
    84.34
    >>> goodput_at_crossing(at(7, 335, 1.485), None, slo, gpus=4)
    83.75
    """
    made = goodput_per_gpu(passing, gpus)
    if failing is None or failing.concurrency > max(passing.concurrency + 1,
                                                    passing.concurrency * (1 + CROSSING_SPAN)):
        return made
    more = max(0.0, goodput_per_gpu(failing, gpus) - made)
    return made + crossing_fraction(passing, failing, slo) * more


def no_level_score(note: str) -> Score:
    """The score of a trial that produced no level (rejected, failed at start-up)."""
    return Score(0.0, False, note=note, violation=NO_LEVEL_VIOLATION)


@dataclass(frozen=True)
class GoodputPerGpu:
    """Maximise output tokens/s per GPU at the SLO boundary (:func:`goodput_at_crossing` from the
    highest passing level; the best passing level's when that made more)."""

    slo: SLO
    name: str = "goodput_per_gpu"
    unit: str = "output tok/s per GPU"

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score:
        met = tuple(self.slo.met(lv) for lv in levels)
        if not levels:
            return no_level_score("no level ran")
        scenarios = list(dict.fromkeys(lv.scenario for lv in levels))
        parts = [self._scenario(levels, met, gpus, s) for s in scenarios]
        weakest = min(parts, key=lambda p: (p.feasible, p.value))
        bound_part = min(parts, key=lambda p: p.bound)
        return Score(weakest.value if weakest.feasible else 0.0, weakest.feasible, weakest.best_level,
                     weakest.note, met, bound_part.bound, max(p.violation for p in parts), bound_part.bound_note)

    def _scenario(self, levels: Sequence[LevelResult], met: tuple[bool, ...], gpus: int, scenario: str) -> Score:
        mine = [i for i, lv in enumerate(levels) if lv.scenario == scenario]
        passing = [i for i in mine if met[i]]
        c_f, at_f = self._first_failing(levels, mine, passing)
        bound, bound_note = self._bound(levels, mine, passing, c_f, at_f, gpus, scenario)
        if passing:
            best = max(passing, key=lambda i: goodput_per_gpu(levels[i], gpus))
            top = max(levels[i].concurrency for i in passing)
            edge = max((levels[i] for i in passing if levels[i].concurrency == top), key=lambda lv: lv.output_tok_s)
            # the most conservative of repeats at the failing load: the one furthest over the SLOs
            over = max(at_f, key=self.slo.excess, default=None)
            value = max(goodput_per_gpu(levels[best], gpus), goodput_at_crossing(edge, over, self.slo, gpus))
            return Score(value, True, best, bound=max(bound, value), bound_note=bound_note)
        closest = min(mine, key=lambda i: self.slo.excess(levels[i]))
        why = "; ".join(self.slo.violations(levels[closest]))
        return Score(0.0, False, closest, note=f"SLO missed: {why}", bound=bound, bound_note=bound_note,
                     violation=max(self.slo.excess(levels[closest]) - 1.0, 1e-6))

    def _first_failing(self, levels: Sequence[LevelResult], mine: list[int],
                       passing: list[int]) -> tuple[int | None, list[LevelResult]]:
        """The lowest failing load above every passing one, and its levels (None, []: no such load;
        a failure below a passing load is noise at the boundary)."""
        top = max((levels[i].concurrency for i in passing), default=0)
        failing = [i for i in mine if i not in passing and levels[i].concurrency > top]
        if not failing:
            return None, []
        c_f = min(levels[i].concurrency for i in failing)
        return c_f, [levels[i] for i in failing if levels[i].concurrency == c_f]

    def _bound(self, levels: Sequence[LevelResult], mine: list[int], passing: list[int], c_f: int | None,
               at_f: list[LevelResult], gpus: int, scenario: str) -> tuple[float, str]:
        """The most goodput a scenario can still reach, and why (inf: no level broke the SLOs).

        Only the lowest failing load c_f above every passing one counts. With a passing load c_p
        below it, closed-loop throughput is users x tokens per request / latency (Little's law) and
        latency does not fall as load rises, so no load in between makes more than (c_f / c_p) times
        c_p's throughput. Without one, the failing level's own throughput is the bound: throughput does not fall as
        load rises either, which holds less exactly (a server past saturation can thrash), hence
        the scheduler's margin. A failing level measured at a higher load c' also vouches for it:
        c_f's latency is no higher, so c_f makes at least c_f / c' of what c' made, and the bound
        takes the larger figure, so that one level measured low (a slow outlier) does not pull the
        bound down on its own. A level ended as soon as it provably failed
        (:mod:`autotuner.bench.fail_fast`) measured part of a level's throughput: it bounds nothing
        by its throughput, only by its load.
        """
        if c_f is None:
            return math.inf, ""
        why = "; ".join(self.slo.violations(at_f[0]))
        below = [levels[i] for i in passing if levels[i].concurrency < c_f]
        if below:
            c_p = max(lv.concurrency for lv in below)
            made = max(goodput_per_gpu(lv, gpus) for lv in below if lv.concurrency == c_p)
            bound = made * c_f / c_p
            return bound, (f"{scenario} meets the SLOs at c={c_p} ({made:.0f} tok/s/GPU) and breaks them at "
                           f"c={c_f} ({why}), so it makes at most {c_f}/{c_p} of that in between")
        full = [lv for lv in at_f if not lv.ended_early]
        if not full:
            return math.inf, ""  # a level ended early measured only part of its throughput
        made = max(0.0 if lv.all_failed else goodput_per_gpu(lv, gpus) for lv in full)
        note = f"{scenario} breaks the SLOs at c={c_f} ({why}) where it makes {made:.0f} tok/s/GPU"
        above = [levels[i] for i in mine  # no level passed: all of them failed
                 if levels[i].concurrency > c_f and not levels[i].all_failed and not levels[i].ended_early]
        if above:
            witness = max(above, key=lambda lv: goodput_per_gpu(lv, gpus) / lv.concurrency)
            vouched = goodput_per_gpu(witness, gpus) * c_f / witness.concurrency
            if vouched > made:
                return vouched, f"{note}, and at least {vouched:.0f} going by c={witness.concurrency}"
        return made, note


@dataclass(frozen=True)
class LatencyAtConcurrency:
    """Minimise a latency percentile at one concurrency (score = -seconds), within the error budget.

    A level that breaks the error budget is infeasible whatever its latency, so a feasible trial
    always ranks above an infeasible one, however slow it is.
    """

    metric: str
    concurrency: int
    slo: SLO
    name: str = "latency"
    unit: str = "-seconds"

    def score(self, levels: Sequence[LevelResult], gpus: int) -> Score:
        met = tuple(lv.error_rate <= self.slo.max_error_rate and not lv.all_failed for lv in levels)
        if not levels:
            return no_level_score("no level ran")
        clean = [i for i, lv in enumerate(levels) if met[i] and getattr(lv, self.metric) is not None]
        if clean:
            worst = max(clean, key=lambda i: getattr(levels[i], self.metric))
            return Score(-getattr(levels[worst], self.metric), True, worst, per_level=met)
        closest = min(range(len(levels)), key=lambda i: self.slo.excess(levels[i]))
        return Score(0.0, False, closest, note="every level broke the error budget", per_level=met,
                     violation=max(self.slo.excess(levels[closest]) - 1.0, 1e-6))


def _latency(spec: ObjectiveSpec, slo: SLO) -> Objective:
    assert spec.latency_concurrency is not None  # checked by the spec
    return LatencyAtConcurrency(spec.latency_metric, spec.latency_concurrency, slo)


def assured_score(score: float, boundary: Iterable[tuple[str, int]]) -> float:
    """The score a feasible trial keeps even if its boundary level passed by luck: what one user
    fewer makes at least. ``boundary``: (scenario, boundary load) pairs; the smallest load counts,
    which can only lower the figure.

    >>> assured_score(120.0, [("D(4096,256)", 12)])
    110.0
    >>> assured_score(120.0, [])
    120.0
    """
    load = min((int(load) for _, load in boundary), default=None)
    return float(score) if load is None else float(score) * (load - 1) / load


def stop_explanation(bound: float | None, assured_best: float | None, note: str, unit: str) -> str:
    """The tail of a stopped trial's reason (empty when it had no bound or nothing to compare with).

    >>> stop_explanation(900.0, 2000.0, "D breaks the SLOs at c=32", "tok/s/GPU")
    ': it can reach at most 900 tok/s/GPU, below the 2000 the best trial is sure of (D breaks the SLOs at c=32)'
    """
    if bound is None or assured_best is None:
        return ""
    return (f": it can reach at most {bound:.4g} {unit}, below the {assured_best:.4g} the best trial is sure of "
            f"({note})")


# objective.kind -> the objective, from the task's objective section and its SLOs
OBJECTIVES: Registry[Callable[[ObjectiveSpec, SLO], Objective]] = Registry("objective.kind", {
    "goodput_per_gpu": lambda spec, slo: GoodputPerGpu(slo),
    "latency": _latency,
})


def objective_from_spec(spec: ObjectiveSpec) -> Objective:
    """The objective a task asks for (its SLOs built here, once)."""
    return OBJECTIVES.get(spec.kind)(spec, SLO.from_spec(spec.slo))
