"""Exhaustive ground truth of a surface: every config of its search space, and what any load
level of it measures, without noise.

Each config goes down the real trial path's decisions, with the simulator's virtual clock in place
of the wall-clock server and genai-bench:

1. the pre-deployment checks (:func:`autotuner.trial.feasibility.reject_reason`, same facts as the
   trainable) reject it: no GPU is claimed;
2. the simulator is started with the argv the ``local`` backend builds; a memory plan that does not
   fit is a start-up failure after the modelled seconds SGLang would have spent;
3. otherwise any (scenario, load) level is evaluated on demand in virtual time
   (:meth:`GroundTruth.level`), with the request count the trial would use, and converted to the
   :class:`~autotuner.bench.result.LevelResult` the trainable would report.

A config's true score is its goodput per GPU at its exact SLO boundary: the largest integer load in
the task's load range that meets the SLOs (found by integer bisection, then a scan of the loads
above it that miss the SLOs by at most 5%: near a limit a latency can be flat, passing and failing
loads alternating), scored where the SLOs are crossed between it and the load above
(:func:`autotuner.trial.objective.goodput_at_crossing`), or at the best passing level of a fine
geometric ladder below it where throughput peaks before the boundary. The campaign's
answer is judged by this score, whatever load its own search measured.

The "real engine" may be a hidden world (:mod:`benchmarks.worlds`): the simulator with its step
times, memory reserve and start-up stretched; the twin never sees them.

Everything is cached as JSON under ``benchmarks/cache/``, keyed by a hash of the simulator's
sources, of the surface and of the world, so it is recomputed only when one changes; where only
the scoring changed, the levels of the old file are reused::

    truth = load_ground_truth(load_surface("benchmarks/surfaces/llama8b-h100.yaml"), world=draw_world(2))
    truth.optimum, truth.gap(config_key(config)), truth.level(key, "D(1024,256)", 64)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Callable

from autotuner.bench.result import LevelResult
from autotuner.facts.gpus import resolve_gpu
from autotuner.trial import objective, sweep
from autotuner.trial.feasibility import model_facts, reject_reason
from autotuner.trial.objective import SLO
from autotuner.sim.args import SimServerArgs, parse_argv
from autotuner.sim.memory import MemoryPlan, StartupFailure, plan_memory, startup_seconds
from autotuner.sim.scenario import SharedPrefix
from autotuner.sim.version import simulator_version
from autotuner.sim.virtual import evaluate_level, finished_requests
from autotuner.task.space import SearchSpace, engine_args
from autotuner.task.spec import TaskSpec
from autotuner.trial.sweep import sizing_for
from autotuner.twin.predict import simulator_argv, slo_boundary
from benchmarks.space_grid import config_key, grid_configs
from benchmarks.surface import Surface
from benchmarks.worlds import UNCHANGED, World

CACHE_DIR = Path(__file__).resolve().parent / "cache"
CACHE_FORMAT = 4  # 4: boundaries scanned along plateaus (format 3's levels are reused)
PLATEAU = 0.05  # loads above the bisection's boundary missing the SLOs by at most this share are scanned

# Outcome of a config before any load level (trial statuses of autotuner.results.records, for the search).
OK, STARTUP_FAILED, REJECTED = "ok", "startup failed", "rejected"
_LEVEL_FIELDS = [f.name for f in fields(LevelResult) if f.name != "error_codes"]


class NoOptimum(ValueError):
    """No config of the surface meets its SLOs (in this world)."""


@dataclass(frozen=True)
class ConfigTruth:
    """One config: whether it starts, and its true score at its exact SLO boundary."""

    config: dict[str, Any]
    status: str  # OK | STARTUP_FAILED | REJECTED
    gpus: int  # GPUs it holds while it runs (0 when rejected: it never claims any)
    startup_s: float  # modelled start-up, or the seconds spent before start-up failed
    reason: str = ""
    score: float = 0.0  # goodput per GPU at the exact SLO boundary (0: meets the SLOs at no load)
    boundary: dict[str, int] = field(default_factory=dict)  # scenario -> largest load meeting the SLOs

    @property
    def feasible(self) -> bool:
        return self.status == OK and self.score > 0


class LevelOracle:
    """Noise-free levels of one task's configs in one world, evaluated on demand and memoised."""

    def __init__(self, spec: TaskSpec, levels: dict[str, LevelResult] | None = None, world: World = UNCHANGED):
        self.spec = spec
        self.world = world
        self.sizing = sizing_for(spec)
        self.levels: dict[str, LevelResult] = levels or {}
        self._plans: dict[str, tuple[SimServerArgs, MemoryPlan]] = {}
        self._requests: dict[str, list[tuple[float, ...]]] = {}
        prefix = spec.workload.prefix  # the prompts genai-bench would send share it
        self.prefix = None if prefix is None else SharedPrefix(length=prefix.len, ratio=prefix.ratio)

    def plan(self, key: str, config: dict[str, Any]) -> tuple[SimServerArgs, MemoryPlan]:
        """The simulator's arguments and memory plan (raises StartupFailure)."""
        if key not in self._plans:
            args = parse_argv(simulator_argv(self.spec, engine_args(config)))
            self._plans[key] = (args, plan_memory(args, gpu=self.world.gpu(resolve_gpu(args.sim_gpu))))
        return self._plans[key]

    def level(self, key: str, config: dict[str, Any], scenario: str, load: int) -> LevelResult:
        name = f"{key}|{scenario}|{load}"
        if name not in self.levels:
            args, plan = self.plan(key, config)
            prediction = evaluate_level(args, scenario, load, self.sizing(load), plan=plan, prefix=self.prefix,
                                        cost_scale=self.world.cost)
            self.levels[name] = prediction.to_level_result()
        return self.levels[name]

    def requests(self, key: str, config: dict[str, Any], scenario: str, load: int) -> list[tuple[float, ...]]:
        """The requests of :meth:`level` in the order they ended (``finished_requests``); kept in
        memory only: the replay asks for them just for levels it may end early."""
        name = f"{key}|{scenario}|{load}"
        if name not in self._requests:
            args, plan = self.plan(key, config)
            self._requests[name] = finished_requests(args, scenario, load, self.sizing(load), plan=plan,
                                                     prefix=self.prefix, cost_scale=self.world.cost)
        return self._requests[name]


def true_boundary(oracle: LevelOracle, key: str, config: dict[str, Any], scenario: str, slo: SLO,
                  gpus: int) -> tuple[int, float]:
    """(largest load meeting the SLOs, best goodput per GPU of a passing load up to it); (0, 0)
    when even the minimum load fails (:func:`autotuner.twin.predict.slo_boundary`, which the twin
    uses too; here with the loads above the bisection's scanned while they miss the SLOs by at most
    :data:`PLATEAU`, as latencies near a limit need not grow with the load)."""
    return slo_boundary(lambda load: oracle.level(key, config, scenario, load), oracle.spec.workload.load, slo, gpus,
                        plateau=PLATEAU)


def config_truth(spec: TaskSpec, oracle: LevelOracle, config: dict[str, Any]) -> ConfigTruth:
    """The truth of one config of the space."""
    from autotuner.trial.objective import SLO

    args = engine_args(config)
    why = reject_reason(args, gpus_per_node=spec.engine.gpus_per_node, slots=spec.budget.gpus, **model_facts(spec))
    if why:
        return ConfigTruth(config, REJECTED, 0, 0.0, why)
    key, gpus = config_key(args), spec.engine.engine_flavor.gpus_needed(args)
    try:
        _, plan = oracle.plan(key, config)
    except StartupFailure as err:
        return ConfigTruth(config, STARTUP_FAILED, gpus, err.after_s * oracle.world.startup, err.message.splitlines()[0])
    slo = SLO.from_spec(spec.objective.slo)
    boundary, score = {}, math.inf
    for scenario in spec.workload.scenarios:
        load, value = true_boundary(oracle, key, config, scenario, slo, gpus)
        boundary[scenario] = load
        score = min(score, value)
    return ConfigTruth(config, OK, gpus, startup_seconds(plan) * oracle.world.startup, "", score, boundary)


class GroundTruth:
    """Every config of a surface with its truth (in ``oracle.world``), in grid order, and its levels on demand."""

    def __init__(self, surface: Surface, configs: dict[str, ConfigTruth], oracle: LevelOracle, simulator: str,
                 compute_s: float):
        self.surface = surface
        self.configs = configs  # config_key -> truth, in nested-loop (grid) order
        self.oracle = oracle
        self.simulator = simulator
        self.compute_s = compute_s
        self.optimum = max(c.score for c in configs.values())
        if self.optimum <= 0:
            raise NoOptimum(f"{surface.name}: no config meets the SLOs, so there is no optimum to approach")

    @property
    def spec(self) -> TaskSpec:
        return self.surface.task

    @property
    def world(self) -> World:
        return self.oracle.world

    def truth(self, config: dict[str, Any]) -> ConfigTruth:
        """The truth of a config the search proposed (KeyError: not a config of the space)."""
        return self.configs[config_key(engine_args(config))]

    def level(self, key: str, scenario: str, load: int) -> LevelResult:
        """The noise-free level of a config at a load (evaluated on first use)."""
        return self.oracle.level(key, self.configs[key].config, scenario, load)

    def requests(self, key: str, scenario: str, load: int) -> list[tuple[float, ...]]:
        """The noise-free level's requests in the order they ended: (end, ttft, e2e, output tokens,
        input tokens)."""
        return self.oracle.requests(key, self.configs[key].config, scenario, load)

    def gap(self, key: str | None) -> float:
        """How far a config's true score is below the optimum (1.0 for no config)."""
        if key is None:
            return 1.0
        return max(0.0, (self.optimum - self.configs[key].score) / self.optimum)

    def counts(self) -> dict[str, int]:
        """Configs by class: feasible, SLO missed at every load, start-up failed, rejected."""
        out = {"configs": len(self.configs), "feasible": 0, "slo_missed": 0, STARTUP_FAILED: 0, REJECTED: 0}
        for c in self.configs.values():
            if c.status != OK:
                out[c.status] += 1
            else:
                out["feasible" if c.feasible else "slo_missed"] += 1
        return out

    def best_keys(self) -> list[str]:
        """The configs that reach the optimum (ties are common: some knobs do not bind)."""
        return [k for k, c in self.configs.items() if c.score == self.optimum]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": CACHE_FORMAT, "simulator": self.simulator, "surface": self.surface.name,
                "world": self.world.key(), "levels_digest": levels_digest(self.surface),
                "configs": [asdict(c) for c in self.configs.values()],
                "levels": {name: [getattr(lv, f) for f in _LEVEL_FIELDS] + [lv.error_codes]
                           for name, lv in self.oracle.levels.items()}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        tmp.replace(path)


def levels_digest(surface: Surface) -> str:
    """A hash of what a level depends on besides the simulator: the task (space, workload, SLOs,
    engine, slots) and the code that sizes levels."""
    task = surface.task.model_dump(mode="json", exclude={"budget": {"trials", "wall_time_s"}, "output": True,
                                                         "search": {"algorithm", "early_stopping", "stop_margin", "prior"},
                                                         "remeasure": True, "seed": True})
    digest = hashlib.sha256(json.dumps(task, sort_keys=True).encode())
    digest.update(inspect.getsource(sweep.RequestSizing).encode())  # a level's request count
    digest.update(inspect.getsource(sweep.sizing_for).encode())
    return digest.hexdigest()[:12]


def surface_digest(surface: Surface) -> str:
    """A hash of what the truth depends on: the levels (:func:`levels_digest`) and the code that
    scores them (the simulator's own version is checked on load)."""
    digest = hashlib.sha256(levels_digest(surface).encode())
    digest.update(Path(objective.__file__).read_bytes())
    return digest.hexdigest()[:12]


def cache_path(surface: Surface, cache_dir: Path = CACHE_DIR, world: World = UNCHANGED) -> Path:
    return cache_dir / f"{_cache_name(surface, world)}-{surface_digest(surface)}.json"


def _cache_name(surface: Surface, world: World) -> str:
    return surface.name if world.unchanged else f"{surface.name}-{world.name}"


def reusable_levels(surface: Surface, cache_dir: Path, world: World, version: str) -> tuple[dict[str, LevelResult], str]:
    """Levels another cache file of this surface and world holds that are still valid (the same
    simulator, world and :func:`levels_digest`; another scoring or cache format), and where from."""
    path, wanted = cache_path(surface, cache_dir, world), levels_digest(surface)
    for other in sorted(cache_dir.glob(f"{_cache_name(surface, world)}-*.json")) if cache_dir.is_dir() else []:
        if other == path or not other.stem.removeprefix(_cache_name(surface, world) + "-").isalnum():
            continue  # another world's file (its name goes on with the world's name)
        data = json.loads(other.read_text())
        if _levels_valid(data, version, world) and data.get("levels_digest") == wanted:
            return _levels_of(data), other.name
    if path.exists():
        data = json.loads(path.read_text())
        if _levels_valid(data, version, world):
            return _levels_of(data), f"its own format {data['format']}"
    return {}, ""


def _levels_valid(data: dict[str, Any], version: str, world: World) -> bool:
    """Whether a cache file's levels are this simulator's in this world (cache format 3 on)."""
    return data.get("simulator") == version and data.get("world") == world.key() and data.get("format", 0) >= 3


def _levels_of(data: dict[str, Any]) -> dict[str, LevelResult]:
    return {name: LevelResult(**dict(zip(_LEVEL_FIELDS, row[:-1])), error_codes=row[-1])
            for name, row in data["levels"].items()}


def _truth_chunk(args: tuple[Surface, World, list[dict[str, Any]], dict[str, LevelResult]]
                 ) -> tuple[list[ConfigTruth], dict[str, LevelResult]]:
    surface, world, configs, known = args
    oracle = LevelOracle(surface.task, dict(known), world=world)
    return [config_truth(surface.task, oracle, c) for c in configs], oracle.levels


def load_ground_truth(surface: Surface, cache_dir: Path = CACHE_DIR, progress: Callable[[str], None] | None = None,
                      processes: int = 2, world: World = UNCHANGED) -> GroundTruth:
    """The surface's ground truth in ``world`` from the cache, or computed (in ``processes`` worker
    processes) and cached when the cache is missing or was made with another simulator or world."""
    path = cache_path(surface, cache_dir, world)
    version = simulator_version()
    if path.exists():
        data = json.loads(path.read_text())
        if _levels_valid(data, version, world) and data["format"] == CACHE_FORMAT:
            configs = {config_key(c["config"]): ConfigTruth(**c) for c in data["configs"]}
            return GroundTruth(surface, configs, LevelOracle(surface.task, _levels_of(data), world), version, 0.0)
    known, source = reusable_levels(surface, cache_dir, world, version)
    if progress:
        progress(f"computing the ground truth of {surface.name} in {world.name} ({world.describe()}; simulator {version}"
                 + (f"; {len(known)} levels of {source} reused)" if known else ")"))
    t0 = time.monotonic()
    configs = grid_configs(SearchSpace.from_spec(surface.task))
    chunks = [configs[i::processes * 4] for i in range(processes * 4)]
    by_config: dict[str, dict[str, LevelResult]] = {}
    for name, lv in known.items():
        by_config.setdefault(name.split("|", 1)[0], {})[name] = lv
    jobs = [(surface, world, chunk, {n: lv for c in chunk for n, lv in by_config.get(config_key(engine_args(c)), {}).items()})
            for chunk in chunks]
    with Pool(processes) as pool:
        parts = pool.map(_truth_chunk, jobs)
    by_key: dict[str, ConfigTruth] = {}
    levels: dict[str, LevelResult] = {}
    for truths, chunk_levels in parts:
        by_key.update((config_key(engine_args(t.config)), t) for t in truths)
        levels.update(chunk_levels)
    ordered = {config_key(engine_args(c)): by_key[config_key(engine_args(c))] for c in configs}
    truth = GroundTruth(surface, ordered, LevelOracle(surface.task, levels, world), version, time.monotonic() - t0)
    truth.save(path)
    return truth


__all__ = ["CACHE_DIR", "ConfigTruth", "GroundTruth", "LevelOracle", "NoOptimum", "OK", "PLATEAU", "REJECTED", "STARTUP_FAILED",
           "levels_digest", "load_ground_truth", "reusable_levels", "simulator_argv", "true_boundary"]
