"""What load one trial runs next, and what it reports after each level.

Pure logic shared by the Ray trainable (:mod:`trainables.engine_trial`) and the benchmarks'
replay, so both make the same decisions. Three plans:

* :class:`LoadSearchPlan` (default): per traffic scenario, the load search of
  :mod:`autotuner.trial.loadsearch`, starting at the campaign's best boundary load when there is one,
  else at the twin's predicted boundary load of the config when the twin predicted one;
* :class:`FixedSweepPlan`: an explicit concurrency list, every scenario at every concurrency;
* :class:`RepeatPlan`: the re-measurement of a finished config at its boundary load, N times
  (lower while their mean breaks an SLO, higher while it meets them there too).

::

    sweep = TrialSweep(plan_for_config(spec, config, 2, objective.slo), objective, gpus=2)
    while (request := sweep.next_level()) is not None:
        sweep.add(run_level(request))        # a real genai-bench level
        report = sweep.report()              # a TrialReport
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Mapping, Protocol, Sequence

from autotuner.bench.fail_fast import FailFast
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import AVERAGED_METRICS, LevelResult
from autotuner.trial.directive import TrialDirective
from autotuner.trial.loadsearch import LoadBounds, Probe, boundary, next_load
from autotuner.trial.objective import SLO, Objective, Score, goodput_at_crossing
from autotuner.task.spec import TaskSpec
from autotuner.trial.report import TrialReport


class LevelPlan(Protocol):
    """Decides the next level from the levels run so far (None: the trial is complete)."""

    def next_level(self, levels: Sequence[LevelResult]) -> LevelRequest | None: ...


@dataclass(frozen=True)
class RequestSizing:
    """Requests per level: every user sends the same number, at least ``per_user`` and enough for
    ``minimum`` in all. A request cap that is not a multiple of the concurrency ends a level in a
    partial wave of requests, whose time counts in full: throughput would then read up to a wave
    low, differently at each concurrency, and rise and fall as the load grows.

    >>> RequestSizing(minimum=128, per_user=3)(31), RequestSizing(minimum=128, per_user=3)(64)
    (155, 192)
    """

    minimum: int
    per_user: int

    def __call__(self, concurrency: int) -> int:
        return concurrency * max(self.per_user, -(-self.minimum // concurrency))


class FirstLoads(StrEnum):
    """Where a load search's first loads come from (the value is what the progress lines say)."""

    BEST_TRIAL = "the best trial's boundary load"  # a measured boundary
    TWIN = "the twin's predicted boundary load"  # a prediction: the steps down follow the measured TTFT

    @property
    def predicted(self) -> bool:
        return self is FirstLoads.TWIN


@dataclass(frozen=True)
class LoadSearchPlan:
    """The load search, one scenario after the other."""

    scenarios: tuple[str, ...]
    bounds: LoadBounds
    slo: SLO
    sizing: RequestSizing
    first_loads: tuple[tuple[str, int], ...] = ()  # scenario -> first load (the campaign's hint or the twin's)
    fail_fast: FailFast | None = None  # with early stopping: levels above a passing one end once they fail
    first_from: FirstLoads = FirstLoads.BEST_TRIAL

    def next_level(self, levels: Sequence[LevelResult]) -> LevelRequest | None:
        first = dict(self.first_loads)
        for scenario in self.scenarios:
            probes = [Probe(lv.concurrency, self.slo.met(lv), lv.output_tok_s, self._ttft_excess(lv)) for lv in levels
                      if lv.scenario == scenario]
            load = next_load(self.bounds, probes, first.get(scenario), self.first_from.predicted)
            if load is not None:
                # only there is a failing level's throughput never needed (autotuner.bench.fail_fast)
                above_a_pass = any(p.passed and p.load < load for p in probes)
                why = _why(probes, f"start at {self.first_from}" if scenario in first else "start")
                return LevelRequest(scenario, load, self.sizing(load), why, self.fail_fast if above_a_pass else None)
        return None

    def _ttft_excess(self, level: LevelResult) -> float | None:
        """p90 TTFT's ratio to its limit where TTFT is the latency that binds (None elsewhere)."""
        if self.slo.ttft_p90_s is None or level.ttft_p90_s is None or level.all_failed:
            return None
        ratio = level.ttft_p90_s / self.slo.ttft_p90_s
        return ratio if ratio >= self.slo.excess(level) else None


def _why(probes: Sequence[Probe], start: str) -> str:
    """Why the search chose its next load, for the progress lines and the levels table."""
    if not probes:
        return start
    lo, hi = boundary(probes)
    if lo is not None and hi is not None:
        return f"narrow {lo}-{hi}"
    return "grow" if lo is not None else "lower"


@dataclass(frozen=True)
class FixedSweepPlan:
    """Every scenario at every listed concurrency, scenario-major."""

    levels: tuple[tuple[str, int], ...]
    sizing: RequestSizing

    def next_level(self, levels: Sequence[LevelResult]) -> LevelRequest | None:
        if len(levels) >= len(self.levels):
            return None
        scenario, concurrency = self.levels[len(levels)]
        return LevelRequest(scenario, concurrency, self.sizing(concurrency),
                            f"sweep {len(levels) + 1}/{len(self.levels)}")


@dataclass(frozen=True)
class RepeatPlan:
    """A finished config measured again: ``repeats`` levels at its boundary load, per scenario.

    The search's boundary load is the highest load that passed once, so it sits at the SLO's edge:
    above it whenever noise made a level pass there by luck, below it whenever noise made the
    level above fail. The repeats are averaged. When the mean of their latencies does not meet the
    SLOs, the load steps down (by half the search's ``resolution``, at most ``steps_down`` times)
    and the repeats run again there. When it meets them at the boundary load, the load steps up
    (as far, at most ``steps_up`` times) while the mean there meets them too: where a latency is
    flat at its limit (the vLLM surface in world 4: a dp=2 config's p90 TTFT is 1.50 s at 64
    users and 1.49 s at 70) one unlucky level ends the search's bisection 15% short. The repeats at
    the failed load above the accepted one say where the SLOs are crossed in between
    (:func:`remeasure_summary`). So the answer is what the config delivers at its SLO on average,
    neither its luckiest level nor its unluckiest.

    Where the repeats at a load disagree (some met the SLOs on their own, some did not), that load
    is within the noise of the config's edge, and the mean of three decides a coin flip: ``repeats``
    more run there, ``more_when_split`` times at most, before their mean decides.

    Where the mean at the boundary load misses the SLOs by at most ``near_miss`` (5%), the latency
    may be flat at its limit there (the benchmark's ground truth scans such plateaus load by load:
    :func:`autotuner.twin.predict.slo_boundary`), and the load one user above runs before the walk
    steps down; if its mean meets the SLOs, the walk goes on up from it. On the shared-prefix
    surface in world 2 (docs/twin.md) the optimum's p90 TTFT is within 2.5% of its 1.5 s limit
    from 53 to 60 users, 1.514 s at 56 and 1.465 s at 57 without noise: walked down from 56, it
    scored 3.9% below a config it beats by 4%. Only where one user is finer than the walk's step
    (above 20 users at a 10% resolution): at fewer users the load above is a whole step, and trying
    it after a failed mean rewards a lucky level (on the long-prompt surface, whose boundary loads
    are 7-11 users, it did).
    """

    loads: tuple[tuple[str, int], ...]  # scenario -> boundary load
    repeats: int
    sizing: RequestSizing
    slo: SLO
    resolution: float = 0.1
    steps_down: int = 3
    steps_up: int = 2
    max_load: int | None = None  # the task's highest load: no step up beyond it
    more_when_split: int = 2  # batches of ``repeats`` more at a load whose repeats disagree
    near_miss: float = 0.05  # a boundary load missed by at most this share: one user above runs first

    def next_level(self, levels: Sequence[LevelResult]) -> LevelRequest | None:
        return self._walk(levels)[2]

    def accepted(self, levels: Sequence[LevelResult]) -> dict[str, list[LevelResult]]:
        """Per scenario, the repeats at the highest load whose mean met the SLOs ([] when no load's did)."""
        return self._walk(levels)[0]

    def failed_above(self, levels: Sequence[LevelResult]) -> dict[str, list[LevelResult]]:
        """Per scenario, the repeats at the lowest load above the accepted one whose mean missed the
        SLOs ([] when none ran): where the SLOs are crossed (:func:`goodput_at_crossing`)."""
        return self._walk(levels)[1]

    def _walk(self, levels: Sequence[LevelResult]
              ) -> tuple[dict[str, list[LevelResult]], dict[str, list[LevelResult]], LevelRequest | None]:
        """Go through the plan against the levels run: (accepted repeats, failed repeats above them,
        next request)."""
        accepted: dict[str, list[LevelResult]] = {}
        above: dict[str, list[LevelResult]] = {}
        i = 0
        for scenario, load in self.loads:
            accepted[scenario], above[scenario] = [], []
            missed: list[list[LevelResult]] = []
            at, step, up = load, 0, False  # step: loads tried away from ``load``; up: walking up
            while True:
                count = self.repeats
                batch = list(levels[i:i + count])
                while (len(batch) == count and count < self.repeats * (1 + self.more_when_split)
                       and len({self.slo.met(lv) for lv in batch}) == 2):
                    count += self.repeats
                    batch = list(levels[i:i + count])
                if len(batch) < count:
                    away = (f", {step} step(s) {'above' if up else 'below'} c={load}" if step
                            else f", one user above c={load}" if at != load else "")
                    return accepted, above, LevelRequest(scenario, at, self.sizing(at),
                                                         f"repeat {len(batch) + 1}/{count}{away}")
                i += count
                mean = mean_level(batch)
                met = self.slo.met(mean)
                if met:
                    accepted[scenario] = batch
                else:
                    missed.append(batch)
                if not met and at == load and self._near_miss(mean, load):
                    at = load + 1  # still step 0: the boundary load's neighbour on a flat edge
                    continue
                if met and (up or step == 0):
                    up, nxt = True, max(at + 1, math.ceil(at * (1 + self.resolution / 2)))
                    if step >= self.steps_up or (self.max_load is not None and nxt > self.max_load):
                        break
                elif met or up or step >= self.steps_down:
                    break
                else:
                    below = min(at, load)  # down from the boundary load, also when the load above it failed
                    nxt = int(below / (1 + self.resolution / 2))
                    if nxt < 1 or nxt == below:
                        break
                at, step = nxt, step + 1
            if accepted[scenario]:
                top = accepted[scenario][0].concurrency
                above[scenario] = min((b for b in missed if b[0].concurrency > top),
                                      key=lambda b: b[0].concurrency, default=[])
        return accepted, above, None

    def _near_miss(self, mean: LevelResult, load: int) -> bool:
        """Whether the mean at boundary ``load`` missed the SLOs by so little that the load above,
        closer than the walk's step, may meet them (and the plan may go above it)."""
        finer = math.ceil(load * (1 + self.resolution / 2)) > load + 1
        return (finer and self.steps_up > 0 and (self.max_load is None or load < self.max_load)
                and self.slo.excess(mean) <= 1 + self.near_miss)


def mean_level(levels: Sequence[LevelResult]) -> LevelResult:
    """The repeats of one level averaged: throughputs, latency percentiles and error rate."""
    def mean(name: str) -> float | None:
        values = [getattr(lv, name) for lv in levels]
        return None if any(v is None for v in values) else statistics.fmean(values)

    averaged = {name: mean(name) for name in AVERAGED_METRICS}
    return dataclasses.replace(levels[0], all_failed=any(lv.all_failed for lv in levels), **averaged)


def sizing_for(spec: TaskSpec) -> RequestSizing:
    return RequestSizing(spec.workload.requests_per_level, spec.workload.requests_per_user)


def plan_for(spec: TaskSpec, slo: SLO, first_loads: dict[str, int] | None = None,
             first_from: FirstLoads = FirstLoads.BEST_TRIAL) -> LevelPlan:
    """The plan a task asks for: the load search against the objective's ``slo`` (starting at
    ``first_loads``, which are ``first_from``: from the twin's predictions the steps down follow the
    measured TTFT), or the fixed sweep of an explicit list (also the latency objective's single
    concurrency). With early stopping, the load search ends a level above a passing one as soon as
    it provably fails."""
    wl = spec.workload
    if spec.objective.kind == "latency":
        assert spec.objective.latency_concurrency is not None
        return FixedSweepPlan(tuple((s, spec.objective.latency_concurrency) for s in wl.scenarios), sizing_for(spec))
    if wl.concurrency:
        return FixedSweepPlan(tuple((s, c) for s in wl.scenarios for c in wl.concurrency), sizing_for(spec))
    load = wl.load
    bounds = LoadBounds(min=load.min, max=load.max, start=load.start, resolution=load.resolution,
                        growth=load.growth)
    return LoadSearchPlan(tuple(wl.scenarios), bounds, slo, sizing_for(spec),
                          tuple(sorted((first_loads or {}).items())),
                          fail_fast_for(slo) if spec.search.stops_early else None, first_from)


def fail_fast_for(slo: SLO) -> FailFast | None:
    """The p90 limits of ``slo`` a level can be ended early on (None: it has none)."""
    limits = tuple((metric, limit) for metric, limit in (("ttft", slo.ttft_p90_s), ("tpot", slo.tpot_p90_s))
                   if limit is not None)
    return FailFast(limits) if limits else None


def plan_for_trial(spec: TaskSpec, directive: TrialDirective, gpus: int, slo: SLO,
                   hint: Mapping[str, float] | None = None) -> LevelPlan:
    """The plan of one trial against the objective's ``slo``: the re-measurement ``directive`` asks
    for, or the task's plan started where ``hint`` (the best trial's boundary load per GPU, per
    scenario: :mod:`autotuner.stopping.load_hint`) puts this config's GPUs; without a hint, at the
    twin's predicted boundary load the search ``directive`` carries.

    The best trial's load comes first: there one level tells whether the config can win
    (:mod:`autotuner.stopping.bound`). Before any trial met the SLOs, the twin's prediction saves
    the growth from ``load.start``: on the shared-prefix benchmark surface the twin's first configs
    grew 8, 16, 32, 64, 128 users before narrowing to their boundary of 90."""
    if directive.remeasures:
        plan = RepeatPlan(directive.loads, directive.repeats, sizing_for(spec), slo, spec.workload.load.resolution,
                          max_load=spec.workload.load.max)
        # loads the user listed (or the latency objective's one) are not searched: none above them
        searched = spec.objective.kind != "latency" and not spec.workload.concurrency
        return plan if searched else dataclasses.replace(plan, steps_up=0)
    if hint:
        return plan_for(spec, slo, {scenario: max(1, round(per_gpu * gpus)) for scenario, per_gpu in hint.items()})
    return plan_for(spec, slo, dict(directive.loads), FirstLoads.TWIN)


class TrialSweep:
    """One trial's levels: what to run next, and the report after each level."""

    def __init__(self, plan: LevelPlan, objective: Objective, gpus: int):
        self.plan = plan
        self.objective = objective
        self.gpus = gpus
        self.levels: list[LevelResult] = []
        self._next: LevelRequest | None = plan.next_level(self.levels)

    def next_level(self) -> LevelRequest | None:
        return self._next

    def add(self, level: LevelResult) -> None:
        self.levels.append(level)
        self._next = self.plan.next_level(self.levels)

    @property
    def complete(self) -> bool:
        return self._next is None

    def score(self) -> Score:
        return self.objective.score(self.levels, self.gpus)

    def boundary_loads(self) -> list[tuple[str, int]]:
        """Per scenario, the load of its best passing level (what the next trials start at), as
        (scenario, load) pairs: Tune flattens dicts in results, not lists."""
        out: dict[str, tuple[float, int]] = {}
        for lv in self.levels:
            if self.objective.slo.met(lv):
                value = lv.output_tok_s / max(self.gpus, 1)
                if lv.scenario not in out or value > out[lv.scenario][0]:
                    out[lv.scenario] = (value, lv.concurrency)
        return [(s, load) for s, (_, load) in out.items()]

    def report(self) -> TrialReport:
        """The report after the last added level: that level's metrics, the score so far, its
        bound and constraint, and ``done`` once the plan is complete."""
        score = self.score()
        report = TrialReport(
            level=len(self.levels), gpus=self.gpus, score=score.value, feasible=score.feasible,
            violation=score.violation, score_bound=None if math.isinf(score.bound) else score.bound,
            boundary=tuple(self.boundary_loads()), status="done" if self.complete else "running", reason=score.note,
            done=self.complete, bound_note=score.bound_note,
            best_level=None if score.best_level is None else score.best_level + 1, measured=self.levels[-1],
            meets_slo=bool(score.per_level[-1]) if score.per_level else False)
        if isinstance(self.plan, RepeatPlan):
            # A re-measurement scores the mean of its repeats, not its luckiest level.
            summary = remeasure_summary(self.plan, self.levels, self.gpus) if self.complete else {}
            report = dataclasses.replace(report, **summary, score=summary.get("remeasured_mean", 0.0),
                                         feasible="remeasured_mean" in summary)
        return report


def final_report(sweep: TrialSweep, status: str, reason: str) -> TrialReport:
    """The last report of a trial that cannot go on (rejected, start-up failure, crash): what its
    levels so far scored, with the status and the reason."""
    score = sweep.score()
    return TrialReport(level=len(sweep.levels), gpus=sweep.gpus, score=score.value, feasible=score.feasible,
                       violation=score.violation, score_bound=None if math.isinf(score.bound) else score.bound,
                       boundary=tuple(sweep.boundary_loads()), status=status, reason=reason, done=True)


def remeasure_summary(plan: RepeatPlan, levels: Sequence[LevelResult], gpus: int) -> dict[str, Any]:
    """The spread of a re-measured config once its plan is complete, in its weakest scenario (the
    lowest mean): each repeat's goodput per GPU at the SLO boundary (:func:`goodput_at_crossing`
    from its level at the accepted load towards a repeat at the failed load above, the same one
    where both loads ran as many), their mean, min, max and standard deviation, how many repeats
    ran there and how many met the SLOs on their own, and the loads; no mean when no load's
    repeats met the SLOs on average."""
    accepted = plan.accepted(levels)
    summary: dict[str, Any] = {"remeasured_repeats": plan.repeats, "remeasured_passed": 0}
    if not all(accepted.values()):
        return summary
    above = plan.failed_above(levels)

    def crossing(level: LevelResult, n: int) -> float:
        failed = above[level.scenario]
        return goodput_at_crossing(level, failed[n % len(failed)] if failed else None, plan.slo, gpus)

    values = {s: [crossing(lv, n) for n, lv in enumerate(batch)] for s, batch in accepted.items()}
    weakest = min(values, key=lambda s: statistics.fmean(values[s]))
    spread = values[weakest]
    summary.update(remeasured_repeats=len(spread), remeasured_passed=sum(plan.slo.met(lv) for lv in accepted[weakest]),
                   remeasured_mean=statistics.fmean(spread), remeasured_min=min(spread), remeasured_max=max(spread),
                   remeasured_stdev=statistics.pstdev(spread),
                   remeasured_loads=tuple((s, batch[0].concurrency) for s, batch in accepted.items()))
    return summary


__all__ = ["FirstLoads", "FixedSweepPlan", "LevelPlan", "LoadSearchPlan", "RepeatPlan", "RequestSizing", "TrialSweep",
           "fail_fast_for", "final_report", "mean_level", "plan_for", "plan_for_trial", "remeasure_summary",
           "sizing_for"]
