"""``autotuner plan``: what the twin predicts for a task's whole search space, before any GPU.

:func:`plan_task` screens every config of the space (a stratified sample where it is huge,
:mod:`autotuner.twin.grid`) with the steady-state fast path, confirms the head of that ranking and
each parameter value's best with the discrete-event simulator, climbs from the best of those to
better neighbours (:mod:`autotuner.twin.climb`), and sums it up as a :class:`CampaignPlan`: the
predicted best configs with their boundary loads and goodput per GPU, the configs that cannot
start and why, which parameters matter, and the GPU-hours the campaign would take. All of it is a prediction of the
simulator (its version is in the plan), not a measurement::

    plan = plan_task(spec)
    print(render_plan(plan))          # or json.dumps(plan.to_dict())
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from autotuner.flavors import short_names
from autotuner.sim.version import simulator_version
from autotuner.task.space import SearchSpace
from autotuner.task.spec import TaskSpec
from autotuner.twin.calibrate import CalibrationReport
from autotuner.twin.climb import CLIMB_STARTS, climb
from autotuner.twin.grid import config_key, configs_to_screen
from autotuner.twin.predict import ConfigPrediction, Model, Outcome, Twin

SAMPLE_SIZE = 4000  # configs screened at most (the whole grid below this)
CONFIRMED = 24  # the fast path's best configs evaluated again by the discrete-event simulator
SHOWN = 10  # best configs listed
VALUE_BINS = 6  # a parameter with more values than this is shown in this many stretches
LABEL = "PREDICTIONS OF THE SIMULATOR (no engine was run)"


@dataclass(frozen=True)
class StartFailure:
    """Configs that cannot start for one reason (numbers in the reason ignored when grouping)."""

    outcome: Outcome  # REJECTED (pre-deployment checks) or STARTUP_FAILED (the engine would die)
    reason: str  # one config's reason, as the check or the engine states it
    count: int
    example: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "reason": self.reason, "count": self.count, "example": self.example}


@dataclass(frozen=True)
class ValueEffect:
    """The screened configs with one value (or stretch of values) of a parameter."""

    value: str
    configs: int
    best: float  # best predicted goodput per GPU among them
    median: float  # median, counting configs that cannot start or meet no SLO as 0


@dataclass(frozen=True)
class ParamEffect:
    """How much one parameter matters: the spread of the best predicted goodput over its values."""

    name: str
    spread: float  # (best of the best value - best of the worst value) / the best overall
    values: tuple[ValueEffect, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "spread": round(self.spread, 4),
                "values": [{"value": v.value, "configs": v.configs, "best": round(v.best, 1),
                            "median": round(v.median, 1)} for v in self.values]}


@dataclass(frozen=True)
class CampaignCost:
    """Predicted GPU-hours of the task's campaign."""

    trials: int
    mean_trial_gpu_h: float  # a trial of a config drawn from the space: start-up + its load search
    search_gpu_h: float  # trials x mean (without early stopping, which ends weak trials sooner)
    remeasure_gpu_h: float  # the re-measurement of the best configs at their boundary
    startup_share: float  # of the search's GPU-hours, the share spent starting engines

    @property
    def total_gpu_h(self) -> float:
        return self.search_gpu_h + self.remeasure_gpu_h

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "mean_trial_gpu_h": round(self.mean_trial_gpu_h, 4),
                "search_gpu_h": round(self.search_gpu_h, 3), "remeasure_gpu_h": round(self.remeasure_gpu_h, 3),
                "total_gpu_h": round(self.total_gpu_h, 3), "startup_share": round(self.startup_share, 3)}


@dataclass(frozen=True)
class Agreement:
    """The fast path against the discrete-event simulator on the configs both evaluated."""

    configs: int
    median_score_error: float  # relative, |steady - simulator| / simulator
    max_score_error: float
    top_gap: float  # how far the simulator's score of the fast path's best is below the simulator's best

    def to_dict(self) -> dict[str, Any]:
        return {"configs": self.configs, "median_score_error": round(self.median_score_error, 4),
                "max_score_error": round(self.max_score_error, 4), "top_gap": round(self.top_gap, 4)}


@dataclass(frozen=True)
class CampaignPlan:
    """The twin's plan of a task: every field a prediction of the simulator at ``simulator``."""

    task: str
    simulator: str  # autotuner.sim.version.simulator_version()
    engine: str  # flavor and version the simulator speaks
    gpu: str
    model: str
    unit: str
    space_size: float  # configs in the space (inf: a continuous range)
    screened: int  # configs screened by the fast path
    sampled: bool  # a stratified sample rather than the whole space
    best: tuple[ConfigPrediction, ...]  # confirmed by the simulator, best first
    outcomes: dict[str, int]  # screened configs by outcome
    cannot_start: tuple[StartFailure, ...]
    slo_missed_example: str  # why one config meets the SLOs at no load ("" when none)
    effects: tuple[ParamEffect, ...]  # most important first
    cost: CampaignCost
    agreement: Agreement
    compute_s: float
    calibration: CalibrationReport | None = None  # fitted to a campaign's levels: ranks the untried configs
    screened_predictions: tuple[ConfigPrediction, ...] = field(default=(), repr=False)  # the fast path's

    def to_dict(self) -> dict[str, Any]:
        return {"label": LABEL, "task": self.task, "simulator": self.simulator, "engine": self.engine,
                "gpu": self.gpu, "model": self.model, "unit": self.unit,
                "space_size": None if math.isinf(self.space_size) else int(self.space_size),
                "screened": self.screened, "sampled": self.sampled, "best": [p.to_dict() for p in self.best],
                "outcomes": self.outcomes, "cannot_start": [f.to_dict() for f in self.cannot_start],
                "slo_missed_example": self.slo_missed_example, "effects": [e.to_dict() for e in self.effects],
                "cost": self.cost.to_dict(), "agreement": self.agreement.to_dict(),
                "calibration": self.calibration.to_dict() if self.calibration else None,
                "compute_s": round(self.compute_s, 2)}


def plan_task(spec: TaskSpec, *, sample_size: int = SAMPLE_SIZE, confirmed: int = CONFIRMED,
              seed: int | None = None, calibration: CalibrationReport | None = None,
              tried: frozenset[str] = frozenset()) -> CampaignPlan:
    """Screen the task's space with the fast path, confirm its best with the simulator, sum up.

    With ``calibration`` (fitted to a campaign's measured levels) the fast path runs calibrated and
    its own ranking is the answer (the discrete-event simulator knows no calibration), without the
    configs in ``tried`` (config keys of the engine parameters measured already)."""
    t0 = time.monotonic()
    twin = Twin(spec, calibration.calibration if calibration else None)
    space = SearchSpace.from_spec(spec)
    configs, total = configs_to_screen(space, sample_size, spec.seed if seed is None else seed)
    screened = [twin.predict(c, Model.STEADY) for c in configs]
    fresh = [p for p in rank(screened) if config_key(p.config) not in tried]
    if calibration:
        head = simulated = best = fresh[:confirmed]
    else:
        head = to_confirm(fresh, [name for name, _ in space.params], confirmed)
        simulated = rank([twin.predict(p.config, Model.SIMULATOR) for p in head])
        best = rank(simulated + climb(twin, space, diversified(simulated, CLIMB_STARTS), known=simulated))
    return CampaignPlan(
        task=spec.name, simulator=simulator_version(), engine=f"{spec.engine.flavor} {spec.engine.version}",
        gpu=spec.engine.gpu, model=spec.model.name, unit="output tok/s per GPU", space_size=total,
        screened=len(screened), sampled=len(screened) < total, best=tuple(best),
        outcomes=dict(Counter(p.outcome.value for p in screened)), cannot_start=start_failures(screened),
        slo_missed_example=next((p.reason for p in screened if p.outcome is Outcome.SLO_MISSED), ""),
        effects=parameter_effects(space, screened), cost=campaign_cost(spec, screened, best),
        agreement=agreement(head, simulated), compute_s=time.monotonic() - t0, calibration=calibration,
        screened_predictions=tuple(screened))


def rank(predictions: Sequence[ConfigPrediction]) -> list[ConfigPrediction]:
    """Best predicted goodput per GPU first; among equals fewer GPUs, then the space's order."""
    order = sorted(range(len(predictions)), key=lambda i: (-predictions[i].score, predictions[i].gpus, i))
    return [predictions[i] for i in order]


def diversified(predictions: Sequence[ConfigPrediction], count: int, min_differences: int = 2) -> list[ConfigPrediction]:
    """Up to ``count`` of the best configs that each differ from every one chosen before in at least
    ``min_differences`` parameters (so they do not all probe one corner), filled up by rank."""
    ranked = [p for p in rank(predictions) if p.outcome is Outcome.OK]
    chosen: list[ConfigPrediction] = []
    for p in ranked:
        if len(chosen) == count:
            break
        if all(differences(p.config, c.config) >= min_differences for c in chosen):
            chosen.append(p)
    keys = {config_key(c.config) for c in chosen}
    chosen += [p for p in ranked if config_key(p.config) not in keys][:count - len(chosen)]
    return chosen


def to_confirm(predictions: Sequence[ConfigPrediction], params: Sequence[str], top: int) -> list[ConfigPrediction]:
    """What the discrete-event simulator confirms of a fast-path screening: its best ``top`` configs,
    and the best config of each value (or stretch of a range) of each parameter in ``params``, in
    the fast path's order.

    The fast path's error is structural, not random: where the scheduler's dynamics decide a
    boundary it is off for a whole value of a parameter at once. On the vLLM surface
    (``benchmarks/surfaces/vllm-qwen7b-h200.yaml``) its TTFT at tp 1 is a third high at 42 users
    (its waves stay in step; the engine's requests drift apart), so it ranks the simulator's best
    config 515th of 1,536. Each value's best config is confirmed all the same.

    >>> from autotuner.twin.predict import Model
    >>> p = lambda score, **config: ConfigPrediction(config, Outcome.OK, Model.STEADY, 1, 0.0, score=score)
    >>> [c.score for c in to_confirm([p(9, tp=2, mem=1), p(8, tp=2, mem=2), p(7, tp=1, mem=1)], ["tp", "mem"], 1)]
    [9, 8, 7]
    """
    ranked = [p for p in rank(predictions) if p.outcome is Outcome.OK]
    chosen = {config_key(p.config): p for p in ranked[:top]}
    for name in params:
        values = sorted({p.config[name] for p in ranked if name in p.config}, key=_sort_key)
        for _, members in _bins(values):
            best = next(p for p in ranked if name in p.config and p.config[name] in members)
            chosen.setdefault(config_key(best.config), best)
    return rank(list(chosen.values()))


def differing(a: dict[str, Any], b: dict[str, Any]) -> set[str]:
    """The parameters two configs differ in (one set in only one of them counts)."""
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def differences(a: dict[str, Any], b: dict[str, Any]) -> int:
    """How many parameters two configs differ in (:func:`differing`)."""
    return len(differing(a, b))


def start_failures(predictions: Sequence[ConfigPrediction]) -> tuple[StartFailure, ...]:
    """The configs that cannot start, grouped by reason (most frequent first)."""
    groups: dict[tuple[Outcome, str], list[ConfigPrediction]] = {}
    for p in predictions:
        if p.outcome in (Outcome.REJECTED, Outcome.STARTUP_FAILED):
            groups.setdefault((p.outcome, re.sub(r"\d+(\.\d+)?", "#", p.reason)), []).append(p)
    failures = [StartFailure(outcome, members[0].reason, len(members), members[0].config)
                for (outcome, _), members in groups.items()]
    return tuple(sorted(failures, key=lambda f: -f.count))


def parameter_effects(space: SearchSpace, predictions: Sequence[ConfigPrediction]) -> tuple[ParamEffect, ...]:
    """Per parameter, the best and median predicted goodput per value (or stretch of a range), and
    the spread of the best over the values: how much choosing that parameter well matters."""
    top = max((p.score for p in predictions), default=0.0)
    effects = []
    for name, _ in space.params:
        with_value = [p for p in predictions if name in p.config]
        values = sorted({p.config[name] for p in with_value}, key=_sort_key)
        if len(values) < 2 or top <= 0:
            continue
        groups = _bins(values)
        effect_values = []
        for label, members in groups:
            scores = [p.score for p in with_value if p.config[name] in members]
            if scores:
                effect_values.append(ValueEffect(label, len(scores), max(scores), statistics.median(scores)))
        bests = [v.best for v in effect_values]
        effects.append(ParamEffect(name, (max(bests) - min(bests)) / top, tuple(effect_values)))
    return tuple(sorted(effects, key=lambda e: -e.spread))


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def _bins(values: list[Any]) -> list[tuple[str, set[Any]]]:
    """One group per value, or :data:`VALUE_BINS` stretches of a long numeric range."""
    if len(values) <= VALUE_BINS:
        return [(str(v), {v}) for v in values]
    size = math.ceil(len(values) / VALUE_BINS)
    chunks = [values[i:i + size] for i in range(0, len(values), size)]
    return [(f"{c[0]:g}-{c[-1]:g}", set(c)) for c in chunks]


def campaign_cost(spec: TaskSpec, screened: Sequence[ConfigPrediction], best: Sequence[ConfigPrediction]) -> CampaignCost:
    """GPU-hours of the campaign: the trial budget at the mean cost of a trial of the space (its
    start-up and its load search from the task's start load), plus the re-measurement's repeats at
    the best configs' boundary loads."""
    trials = spec.budget.trials
    mean_s = statistics.fmean(p.trial_gpu_s for p in screened) if screened else 0.0
    startup_s = statistics.fmean(p.gpus * p.startup_s for p in screened) if screened else 0.0
    remeasure_s = sum(p.gpus * (p.startup_s + spec.remeasure.repeats * p.boundary_level_s)
                      for p in list(best)[:spec.remeasure.configs])
    return CampaignCost(trials=trials, mean_trial_gpu_h=mean_s / 3600, search_gpu_h=trials * mean_s / 3600,
                        remeasure_gpu_h=remeasure_s / 3600, startup_share=startup_s / mean_s if mean_s else 0.0)


def agreement(fast: Sequence[ConfigPrediction], confirmed: Sequence[ConfigPrediction]) -> Agreement:
    """How far the fast path's scores were from the simulator's on the configs both evaluated."""
    by_key = {config_key(p.config): p for p in fast}
    errors = [abs(by_key[config_key(p.config)].score - p.score) / p.score for p in confirmed if p.score > 0]
    simulated = {config_key(p.config): p.score for p in confirmed}
    top = max(simulated.values(), default=0.0)
    gap = (top - simulated[config_key(fast[0].config)]) / top if fast and top > 0 else 0.0
    return Agreement(len(errors), statistics.median(errors) if errors else 0.0, max(errors, default=0.0), gap)


def render_plan(plan: CampaignPlan) -> str:
    """The plan as text tables for the terminal."""
    names = short_names()
    lines = [f"{LABEL}: simulator {plan.simulator}, {plan.engine} on {plan.gpu}, {plan.model}"]
    size = "a continuous space" if math.isinf(plan.space_size) else f"{plan.space_size:,.0f} configs"
    how = f"a stratified sample of {plan.screened:,}" if plan.sampled else f"all {plan.screened:,}"
    confirmed = ("" if plan.calibration else
                 f", its best and each parameter value's best ({len(plan.best)}) confirmed by the discrete-event simulator")
    lines.append(f"task {plan.task}: {size}; screened {how} with the steady-state fast path{confirmed} "
                 f"({plan.compute_s:.1f} s)")
    if plan.calibration:
        lines += [plan.calibration.line(), "",
                  f"Predicted best configs not measured yet ({plan.unit} at the SLO boundary, by the calibrated fast path):"]
    else:
        lines += ["", f"Predicted best configs ({plan.unit} at the SLO boundary, by the simulator):"]
    shown = rank(diversified(plan.best, SHOWN))
    params = list(dict.fromkeys(k for p in shown for k in p.config))
    header = ["#", "goodput/GPU", "boundary load", "GPUs", "start-up"] + [names.get(k, k) for k in params]
    rows = [[str(i + 1), f"{p.score:.0f}", " ".join(f"{s}:{c}" for s, c in p.boundary), str(p.gpus),
             f"{p.startup_s:.0f}s"] + [_cell(p.config.get(k, "-")) for k in params] for i, p in enumerate(shown)]
    lines += _table(header, rows)
    a = plan.agreement
    lines.append("(diversified: each differs from those above in 2+ parameters)" if plan.calibration else f"(the {len(plan.best)} confirmed, diversified: each differs from those above in 2+ parameters; fast path vs "
                 f"simulator on them: median |error| {a.median_score_error:.1%}, max {a.max_score_error:.1%}; "
                 f"the fast path's first is {a.top_gap:.1%} below the simulator's)")
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(plan.outcomes.items(), key=lambda kv: -kv[1]))
    lines += ["", f"Screened configs: {outcomes}"]
    if plan.cannot_start:
        lines.append("Cannot start (predicted):")
        for f in plan.cannot_start[:8]:
            lines.append(f"  {f.count:>6}  {f.outcome.value}: {f.reason}")
    if plan.slo_missed_example:
        lines.append(f"Meet the SLOs at no load, e.g.: {plan.slo_missed_example}")
    lines += ["", "Which parameters matter (best predicted goodput/GPU per value; spread = (best - worst) / best):"]
    for e in plan.effects:
        values = "  ".join(f"{v.value}: {v.best:.0f}" for v in e.values)
        lines.append(f"  {names.get(e.name, e.name):>8} spread {e.spread:>4.0%}   {values}")
    c = plan.cost
    lines += ["", f"Predicted GPU-hours of the campaign: {c.total_gpu_h:.2f} = {c.trials} trials x "
                  f"{c.mean_trial_gpu_h:.3f} (a config of the space: start-up + its load search, "
                  f"{c.startup_share:.0%} start-up) + {c.remeasure_gpu_h:.2f} re-measurement",
              "  (without early stopping, which ends weak trials after a few levels: an upper estimate)"]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))
    return [fmt(header), *map(fmt, rows)]


__all__ = ["Agreement", "CampaignCost", "CampaignPlan", "LABEL", "ParamEffect", "StartFailure", "ValueEffect",
           "agreement", "campaign_cost", "differences", "differing", "diversified", "parameter_effects", "plan_task", "rank", "render_plan",
           "start_failures", "to_confirm"]
