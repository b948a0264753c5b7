"""The twin's prediction of one config of a task: whether it starts, its SLO boundary load per
traffic scenario, its goodput per GPU there, and what one trial of it costs in GPU-seconds.

Each config goes down the real trial's decisions with the simulator in place of the engine: the
pre-deployment checks (:func:`autotuner.trial.feasibility.reject_reason`), the simulator's memory
plan for the argv the ``local`` backend would launch (:class:`~autotuner.sim.StartupFailure`
where the engine would not start), then the levels of the load range, from either model:

* ``Model.STEADY``: the steady-state fast path (:mod:`autotuner.twin.steady`), for screening;
* ``Model.SIMULATOR``: the discrete-event simulator in virtual time
  (:func:`autotuner.sim.evaluate_level`), as the benchmarks' ground truth uses it.

::

    twin = Twin(spec)
    twin.predict(config, Model.STEADY).score      # predicted output tok/s per GPU at the boundary
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from autotuner.bench.result import LevelResult
from autotuner.facts.gpus import resolve_gpu
from autotuner.facts.models import resolve_model
from autotuner.sim import MemoryPlan, SimServerArgs, StartupFailure, evaluate_level, parse_argv, plan_memory
from autotuner.sim.scenario import SharedPrefix, parse_scenario
from autotuner.task.space import engine_args
from autotuner.task.spec import LoadSpec, TaskSpec
from autotuner.trial.feasibility import model_facts, reject_reason
from autotuner.trial.objective import SLO, goodput_at_crossing, goodput_per_gpu
from autotuner.trial.sweep import plan_for, sizing_for
from autotuner.sim.cost import StepCost
from autotuner.twin.steady import Calibration, SteadyLevelModel

LADDER_STEP = 1.2  # the ladder of loads below the boundary the best passing level is taken over


class Model(str, Enum):
    """Which of the twin's two models evaluates a level."""

    STEADY = "steady-state"
    SIMULATOR = "simulator"


class Outcome(str, Enum):
    """What the twin predicts for a config before its score."""

    OK = "ok"  # starts and meets the SLOs at some load
    SLO_MISSED = "slo missed"  # starts, but meets the SLOs at no load of the range
    STARTUP_FAILED = "startup failed"  # the engine would die at start-up (memory plan, arguments)
    REJECTED = "rejected"  # the pre-deployment checks refuse it: no GPU is ever claimed


@dataclass(frozen=True)
class ConfigPrediction:
    """The twin's prediction for one config (engine parameters only)."""

    config: dict[str, Any]
    outcome: Outcome
    model: Model
    gpus: int  # GPUs a trial of it holds (0: rejected, it never claims any)
    startup_s: float  # modelled start-up, or the seconds spent before start-up fails
    reason: str = ""  # why it cannot start / meets no SLO
    score: float = 0.0  # goodput per GPU at the SLO boundary (the weakest scenario's)
    boundary: tuple[tuple[str, int], ...] = ()  # scenario -> largest load meeting the SLOs
    trial_gpu_s: float = 0.0  # GPU-seconds of one trial: start-up plus its load search's levels
    boundary_level_s: float = 0.0  # seconds of one level at each scenario's boundary load, summed

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "outcome": self.outcome.value, "model": self.model.value, "gpus": self.gpus,
                "startup_s": round(self.startup_s, 2), "reason": self.reason, "score": round(self.score, 1),
                "boundary": dict(self.boundary), "trial_gpu_s": round(self.trial_gpu_s, 1),
                "boundary_level_s": round(self.boundary_level_s, 2)}


def simulator_argv(spec: TaskSpec, args: dict[str, Any]) -> list[str]:
    """The simulator's flags for a config, exactly as the ``local`` backend launches the simulator
    for this task (whatever engine the task itself deploys)."""
    from autotuner.engines.base import DeployRequest
    from autotuner.engines.local import SIMULATOR, LocalProcessEngine

    local = spec.engine.local.model_copy(update={"command": SIMULATOR})
    as_simulated = spec.model_copy(update={"engine": spec.engine.model_copy(update={"backend": "local", "local": local})})
    request = DeployRequest(campaign_id="twin", trial_id="twin", engine_args=args,
                            served_model_name=spec.model.served_model_name, work_dir=Path("."))
    argv = LocalProcessEngine.from_spec(as_simulated).command_for(request, port=0)
    return argv[argv.index("autotuner.sim.server") + 1:]


def slo_boundary(level: Callable[[int], LevelResult], load: LoadSpec, slo: SLO, gpus: int,
                 plateau: float = 0.0) -> tuple[int, float]:
    """(largest load in the range meeting the SLOs, goodput per GPU at the SLO boundary: where the
    SLOs are crossed between it and the load above (:func:`goodput_at_crossing`), or a passing
    load's below it that made more); (0, 0) when even the minimum load fails. Integer bisection,
    assuming like the load search that the passing loads form an interval from the minimum;
    ``level(load)`` evaluates a level.

    With ``plateau`` > 0 the loads above the bisection's are scanned one by one while they miss
    the SLOs by at most that share (:meth:`SLO.excess`): where a latency is flat at its limit
    (vLLM's TTFT over 20 users at 1.49-1.51 s against 1.5 s) passing and failing loads alternate,
    and the largest passing one is the boundary."""
    def passes(c: int) -> bool:
        return slo.met(level(c))

    if not passes(load.min):
        return 0, 0.0
    lo, hi = load.min, None
    while hi is None:
        nxt = min(load.max, lo * 2)
        if nxt == lo:
            break
        if passes(nxt):
            lo = nxt
        else:
            hi = nxt
    while hi is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if passes(mid) else (lo, mid)
    scan = hi
    while plateau and scan is not None and scan <= load.max and slo.excess(level(scan)) <= 1 + plateau:
        lo = scan if passes(scan) else lo
        scan += 1
    ladder = {lo}
    c = float(load.min)
    while c < lo:
        ladder.add(int(c))
        c = max(c * LADDER_STEP, c + 1)
    best = max(goodput_per_gpu(lv, gpus) for lv in (level(x) for x in sorted(ladder)) if slo.met(lv))
    above = level(lo + 1) if lo < load.max else None  # every load between lo and the scan's end failed
    return lo, max(best, goodput_at_crossing(level(lo), above, slo, gpus))


class TwinUnavailable(ValueError):
    """The simulator cannot model this task (a model or GPU it has no facts for, traffic its
    virtual clock cannot draw such as the user's prompts sent as written)."""


class Twin:
    """The simulator as a model of one task's engine, GPU, model, workload and SLOs."""

    def __init__(self, spec: TaskSpec, calibration: Calibration | None = None):
        self.spec = spec
        self.calibration = calibration  # step times fitted to measured levels, if any (both models use it)
        prefix = spec.workload.prefix  # the prompts genai-bench sends share it: the simulator caches it
        self.prefix = None if prefix is None else SharedPrefix(length=prefix.len, ratio=prefix.ratio)
        self.slo = SLO.from_spec(spec.objective.slo)
        self.sizing = sizing_for(spec)
        self.facts = model_facts(spec)
        self.flavor = spec.engine.engine_flavor
        self.level_cap_s = spec.workload.minutes_per_level * 60.0
        try:
            args = self.args({})
            args.validate()
            resolve_model(args.resolved().model_name())
            resolve_gpu(args.sim_gpu)
            for scenario in spec.workload.scenarios:
                parse_scenario(scenario)
        except (KeyError, ValueError) as err:
            raise TwinUnavailable(f"the simulator cannot model this task: {err.args[0]}") from None

    def args(self, config: dict[str, Any]) -> SimServerArgs:
        return parse_argv(simulator_argv(self.spec, engine_args(config)))

    def predict(self, config: dict[str, Any], model: Model) -> ConfigPrediction:
        """The prediction for ``config`` (a Tune config or engine parameters) by ``model``."""
        args = engine_args(config)
        why = reject_reason(args, gpus_per_node=self.spec.engine.gpus_per_node, slots=self.spec.budget.gpus,
                            **self.facts)
        if why:
            return ConfigPrediction(args, Outcome.REJECTED, model, 0, 0.0, why)
        gpus = self.flavor.gpus_needed(args)
        try:
            sim_args = self.args(args)
            plan = plan_memory(sim_args)
        except StartupFailure as err:
            return ConfigPrediction(args, Outcome.STARTUP_FAILED, model, gpus, err.after_s,
                                    err.message.splitlines()[0], trial_gpu_s=gpus * err.after_s)
        level = self.level_function(sim_args, plan, model)
        boundary, score = [], math.inf
        for scenario in self.spec.workload.scenarios:
            load, value = slo_boundary(lambda c, s=scenario: level(s, c), self.spec.workload.load, self.slo, gpus)
            boundary.append((scenario, load))
            score = min(score, value)
        trial_s = plan.startup_s + self.search_seconds(level)
        if score <= 0:
            return ConfigPrediction(args, Outcome.SLO_MISSED, model, gpus, plan.startup_s,
                                    self._miss_reason(level), boundary=tuple(boundary), trial_gpu_s=gpus * trial_s)
        level_s = sum(min(level(s, c).duration_s, self.level_cap_s) for s, c in boundary)
        return ConfigPrediction(args, Outcome.OK, model, gpus, plan.startup_s, score=score, boundary=tuple(boundary),
                                trial_gpu_s=gpus * trial_s, boundary_level_s=level_s)

    def level_function(self, args: SimServerArgs, plan: MemoryPlan, model: Model) -> Callable[[str, int], LevelResult]:
        """``level(scenario, load)`` of one config by ``model``, memoised."""
        cache: dict[tuple[str, int], LevelResult] = {}
        calibration = self.calibration or Calibration()
        steady = SteadyLevelModel(plan, StepCost(plan, calibration.scale), self.prefix) if model is Model.STEADY else None

        def level(scenario: str, load: int) -> LevelResult:
            key = (scenario, load)
            if key not in cache:
                if steady is not None:
                    cache[key] = steady.level(scenario, load, self.sizing(load))
                else:
                    cache[key] = evaluate_level(args, scenario, load, self.sizing(load), plan=plan, prefix=self.prefix,
                                                cost_scale=calibration.scale).to_level_result()
            return cache[key]

        return level

    def search_seconds(self, level: Callable[[str, int], LevelResult]) -> float:
        """Seconds of the levels the task's load search runs (from its start, without early stopping),
        each capped at ``minutes_per_level``."""
        plan = plan_for(self.spec, self.slo)
        levels: list[LevelResult] = []
        while (request := plan.next_level(levels)) is not None:
            levels.append(level(request.scenario, request.concurrency))
        return sum(min(lv.duration_s, self.level_cap_s) for lv in levels)

    def _miss_reason(self, level: Callable[[str, int], LevelResult]) -> str:
        load = self.spec.workload.load.min
        for scenario in self.spec.workload.scenarios:
            broken = self.slo.violations(level(scenario, load))
            if broken:
                return f"{scenario} breaks the SLOs at the minimum load {load}: {', '.join(broken)}"
        return "meets the SLOs at no load"


__all__ = ["ConfigPrediction", "Model", "Outcome", "Twin", "TwinUnavailable", "simulator_argv", "slo_boundary"]
