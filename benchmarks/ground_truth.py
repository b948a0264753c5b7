"""Exhaustive ground truth of a surface: what every config of its search space would report.

Each config goes down the real trial path's decisions, with the simulator's virtual clock in place
of the wall-clock server and genai-bench:

1. the pre-deployment checks (:func:`autotuner.feasibility.reject_reason`, same facts as the
   trainable) reject it: no GPU is claimed;
2. the simulator is started with the argv the ``local`` backend builds; a memory plan that does not
   fit is a start-up failure after the modelled seconds SGLang would have spent;
3. otherwise every (scenario, concurrency) level of the sweep is evaluated in virtual time and
   converted to the :class:`~autotuner.bench.result.LevelResult` the trainable would report.

The result is cached as JSON under ``benchmarks/cache/``, keyed by a hash of the simulator's
sources and of the surface, so it is recomputed only when either changes::

    truth = load_ground_truth(load_surface("benchmarks/surfaces/llama8b-h100.yaml"))
    truth.optimum, truth.score(config_key(config), levels_run=2)
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import autotuner.sim
from autotuner.bench.result import LevelResult
from autotuner.engines.base import DeployRequest
from autotuner.engines.registry import make_backend
from autotuner.engines.sglang_args import gpus_needed
from autotuner.feasibility import reject_reason
from autotuner.objective import Objective, Score, objective_from_spec
from autotuner.sim.args import parse_argv
from autotuner.sim.memory import StartupFailure, plan_memory, startup_seconds
from autotuner.sim.virtual import evaluate_level
from autotuner.space import SearchSpace, engine_args
from autotuner.spec import TaskSpec
from benchmarks.space_grid import config_key, grid_configs
from benchmarks.surface import Surface
from trainables.engine_trial import model_facts

CACHE_DIR = Path(__file__).resolve().parent / "cache"
CACHE_FORMAT = 1

# Outcome of a config before any load level (trial statuses of autotuner.results, for the search).
OK, STARTUP_FAILED, REJECTED = "ok", "startup failed", "rejected"


@dataclass(frozen=True)
class TrialOutcome:
    """What the trial of one config would produce, level by level."""

    config: dict[str, Any]
    status: str  # OK | STARTUP_FAILED | REJECTED
    gpus: int  # GPUs it holds while it runs (0 when rejected: it never claims any)
    startup_s: float  # modelled start-up, or the seconds spent before start-up failed
    reason: str = ""
    levels: tuple[LevelResult, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["levels"] = [{k: v for k, v in lv.items() if v is not None} for lv in data["levels"]]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrialOutcome":
        return cls(config=data["config"], status=data["status"], gpus=data["gpus"],
                   startup_s=data["startup_s"], reason=data.get("reason", ""),
                   levels=tuple(LevelResult(**lv) for lv in data["levels"]))


def simulator_version() -> str:
    """A hash of the simulator's sources: the ground truth is stale when it changes."""
    digest = hashlib.sha256()
    for path in sorted(Path(autotuner.sim.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def simulator_argv(spec: TaskSpec, args: dict[str, Any]) -> list[str]:
    """The simulator's flags for a config, exactly as the ``local`` backend launches it."""
    backend = make_backend(spec)
    request = DeployRequest(campaign_id="bench", trial_id="bench", engine_args=args,
                            served_model_name=spec.model.served_model_name, work_dir=Path("."))
    argv = backend.command_for(request, port=0)
    module_at = argv.index("autotuner.sim.server")
    return argv[module_at + 1:]


def simulate_trial(spec: TaskSpec, config: dict[str, Any]) -> TrialOutcome:
    """The outcome of one config's trial, in virtual time."""
    args = engine_args(config)
    why = reject_reason(args, gpus_per_node=spec.engine.gpus_per_node, slots=spec.budget.gpus,
                        **model_facts(spec))
    if why:
        return TrialOutcome(config, REJECTED, 0, 0.0, why)
    sim_args = parse_argv(simulator_argv(spec, args))
    gpus = gpus_needed(args)
    try:
        plan = plan_memory(sim_args)
    except StartupFailure as err:
        return TrialOutcome(config, STARTUP_FAILED, gpus, err.after_s, err.message.splitlines()[0])
    levels = tuple(
        evaluate_level(sim_args, scenario, concurrency, spec.workload.requests_per_level, plan=plan).to_level_result()
        for scenario, concurrency in spec.levels)
    return TrialOutcome(config, OK, gpus, startup_seconds(plan), "", levels)


@dataclass
class GroundTruth:
    """Every config of a surface with its outcome, in grid order, and the objective on top."""

    surface: Surface
    outcomes: dict[str, TrialOutcome]  # config_key -> outcome, in nested-loop (grid) order
    simulator: str  # simulator_version() it was computed with
    compute_s: float  # seconds it took to compute (0 when read from the cache)

    def __post_init__(self) -> None:
        self.objective: Objective = objective_from_spec(self.surface.task.objective)
        self._scores: dict[tuple[str, int], Score] = {}
        self.full_scores = {key: self.score(key, len(o.levels)).value for key, o in self.outcomes.items()}
        self.optimum = max(self.full_scores.values())
        if self.optimum <= 0:
            raise ValueError(f"{self.surface.name}: no config meets the SLOs, so there is no optimum to approach")

    @property
    def spec(self) -> TaskSpec:
        return self.surface.task

    def outcome(self, config: dict[str, Any]) -> TrialOutcome:
        """The outcome of a config the search proposed (KeyError: not a config of the space)."""
        return self.outcomes[config_key(engine_args(config))]

    def score(self, key: str, levels_run: int) -> Score:
        """The objective after the first ``levels_run`` levels of a config's sweep."""
        cached = self._scores.get((key, levels_run))
        if cached is None:
            outcome = self.outcomes[key]
            cached = self.objective.score(outcome.levels[:levels_run], outcome.gpus)
            self._scores[(key, levels_run)] = cached
        return cached

    def gap(self, key: str | None) -> float:
        """How far a config's full-sweep score is below the optimum (1.0 when there is none)."""
        if key is None:
            return 1.0
        return max(0.0, (self.optimum - self.full_scores[key]) / self.optimum)

    def counts(self) -> dict[str, int]:
        """Configs by class: feasible, SLO missed at every level, start-up failed, rejected."""
        out = {"configs": len(self.outcomes), "feasible": 0, "slo_missed": 0, STARTUP_FAILED: 0, REJECTED: 0}
        for key, outcome in self.outcomes.items():
            if outcome.status != OK:
                out[outcome.status] += 1
            elif self.score(key, len(outcome.levels)).feasible:
                out["feasible"] += 1
            else:
                out["slo_missed"] += 1
        return out

    def best_keys(self) -> list[str]:
        """The configs that reach the optimum (ties are common: some knobs do not bind)."""
        return [k for k, v in self.full_scores.items() if v == self.optimum]


def surface_digest(surface: Surface) -> str:
    """A hash of what the outcomes depend on: the task (space, workload, engine, seed, slots)."""
    task = surface.task.model_dump(mode="json", exclude={"budget": {"trials", "wall_time_s"}, "output": True,
                                                         "objective": True})
    return hashlib.sha256(json.dumps(task, sort_keys=True).encode()).hexdigest()[:12]


def cache_path(surface: Surface, cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / f"{surface.name}-{surface_digest(surface)}.json"


def load_ground_truth(surface: Surface, cache_dir: Path = CACHE_DIR,
                      progress: Callable[[str], None] | None = None) -> GroundTruth:
    """The surface's ground truth from the cache, or computed (and cached) when the cache is
    missing or was made with another simulator."""
    path = cache_path(surface, cache_dir)
    version = simulator_version()
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("format") == CACHE_FORMAT and data.get("simulator") == version:
            outcomes = {config_key(o["config"]): TrialOutcome.from_json(o) for o in data["outcomes"]}
            return GroundTruth(surface, outcomes, version, 0.0)
    if progress:
        progress(f"computing the ground truth of {surface.name} (simulator {version})")
    t0 = time.monotonic()
    configs = grid_configs(SearchSpace.from_spec(surface.task))
    outcomes = {config_key(c): simulate_trial(surface.task, c) for c in configs}
    truth = GroundTruth(surface, outcomes, version, time.monotonic() - t0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": CACHE_FORMAT, "simulator": version, "surface": surface.name,
                               "outcomes": [o.to_json() for o in outcomes.values()]}))
    tmp.replace(path)
    return truth


__all__ = ["GroundTruth", "OK", "REJECTED", "STARTUP_FAILED", "TrialOutcome", "load_ground_truth",
           "simulate_trial", "simulator_version"]
