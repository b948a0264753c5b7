"""The twin in hidden worlds: on each surface, each contender replayed in every world x seed.

In world ``i`` (:mod:`benchmarks.worlds`) the replay's "real engine" is the simulator with hidden
changes; the twin inside ``ours_twin`` stays the unchanged simulator and learns the world only
from the levels its trials measure. Contenders (:data:`benchmarks.strategies.WORLD_CONTENDERS`):
the twin alone (its predicted best, deployed once per world), ours with and without the twin, and
random search, with the same trial budget, seeds and noise as the strategy comparison.

The replays run in worker processes (every ground truth is computed and cached first)::

    results = run_worlds_benchmark([load_surface("llama8b-h100")], [draw_world(i) for i in range(5)],
                                   seeds=range(4), budget=200)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from multiprocessing import Pool
from typing import Callable, Sequence

from autotuner.results.records import TrialStatus
from benchmarks.comparisons import ANSWER_TOLERANCE
from benchmarks.ground_truth import NoOptimum, load_ground_truth
from benchmarks.metrics import RunSummary, first_within
from benchmarks.noise import NoiseModel
from benchmarks.search_bench import quiet_optuna, run_strategy, worker_truth
from benchmarks.strategies import WORLD_CONTENDERS, Strategy, strategy_named
from benchmarks.surface import Surface
from benchmarks.worlds import World, draw_world


@dataclass(frozen=True)
class WorldRun:
    """One replayed campaign of a contender in one world."""

    world: int
    summary: RunSummary
    deployed_to_3pct: int | None  # trials that claimed GPUs up to the first within 3% (None: never)

    @property
    def gpu_h_to_3pct(self) -> float | None:
        hit = self.summary.to_3pct
        return None if hit is None else hit.gpu_h


@dataclass
class WorldsResult:
    """Every contender's runs on one surface, in every world."""

    surface: Surface
    worlds: list[World]
    seeds: list[int]
    budget: int
    optima: dict[int, float]  # world index -> its optimum (output tok/s per GPU)
    runs: dict[str, list[WorldRun]] = field(default_factory=dict)  # strategy name -> runs, by world then seed
    infeasible: list[World] = field(default_factory=list)  # worlds where no config meets the SLOs (left out)

    def of(self, strategy: str, world: int | None = None) -> list[WorldRun]:
        return [r for r in self.runs.get(strategy, []) if world is None or r.world == world]


def run_in_world(surface: Surface, world: World, strategy: Strategy, seed: int, budget: int,
                 noise: NoiseModel = NoiseModel()) -> WorldRun:
    """One campaign of ``strategy`` in ``world``."""
    surface = surface.in_world(world)
    truth = worker_truth(surface, world)
    summary, points, campaign = run_strategy(surface, truth, strategy, seed, budget, noise, ())
    hit = first_within(points, ANSWER_TOLERANCE)
    deployed = None
    if hit is not None:
        deployed = sum(r.status != TrialStatus.REJECTED for r in campaign.search[:hit.trials])
    return WorldRun(world.index, summary, deployed)


def _job(job: tuple[Surface, int, str, int, int]) -> tuple[str, WorldRun]:
    surface, world_index, strategy, seed, budget = job
    quiet_optuna()
    return strategy, run_in_world(surface, draw_world(world_index), strategy_named(strategy), seed, budget)


def run_worlds_benchmark(surfaces: Sequence[Surface], worlds: Sequence[World], seeds: Sequence[int], budget: int,
                         contenders: Sequence[Strategy] = WORLD_CONTENDERS, progress: Callable[[str], None] = print,
                         processes: int = 2) -> list[WorldsResult]:
    """Every contender x world x seed on every surface (deterministic contenders once per world)."""
    results = []
    for surface in surfaces:
        optima, infeasible = {}, []
        for world in worlds:
            try:
                optima[world.index] = load_ground_truth(surface.in_world(world), world=world, progress=progress).optimum
            except NoOptimum as err:  # the SLOs are met nowhere there: nothing to approach
                infeasible.append(world)
                progress(f"{surface.name}: {world.name} left out: {err}")
        feasible = [w for w in worlds if w.index in optima]
        jobs = [(surface, world.index, strategy.name, seed, budget)
                for world in feasible for strategy in contenders for seed in (seeds if strategy.seeded else seeds[:1])]
        result = WorldsResult(surface, feasible, list(seeds), budget, optima, infeasible=infeasible)
        with Pool(processes) as pool:
            for name, run in pool.imap(_job, jobs):
                result.runs.setdefault(name, []).append(run)
        progress(f"{surface.name}: {len(jobs)} campaigns in {len(worlds)} worlds done")
        results.append(result)
    return results


__all__ = ["WorldRun", "WorldsResult", "run_in_world", "run_worlds_benchmark"]
