"""The search-strategy comparison: every strategy on every surface, same trial budget, same seeds.

Pure computation over the ground truth (no Ray cluster): each run is a
:func:`~benchmarks.replay.replay_with_answer` of one strategy with one seed, measured through the
noise model (seeded by the seed), in a pool of worker processes. Deterministic strategies (grid,
vLLM auto_tune) run once. The grid is also replayed over the whole space, in its order, to know
what a complete hand-written sweep costs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from multiprocessing import Pool
from typing import Callable, Sequence

from benchmarks.ground_truth import GroundTruth, load_ground_truth
from benchmarks.metrics import Point, RunSummary, summarise
from benchmarks.noise import NoiseModel
from benchmarks.replay import CampaignReplay, replay_with_answer
from benchmarks.strategies import GRID, STRATEGIES, Strategy, check_auto_tune_configs, strategy_named
from benchmarks.surface import Surface
from benchmarks.worlds import UNCHANGED, World

GAP_BUDGETS = (10, 25, 50)  # trials after which the gap left is reported


@dataclass
class StrategyRuns:
    """Every run of one strategy on one surface."""

    strategy: Strategy
    summaries: list[RunSummary] = field(default_factory=list)
    points: list[list[Point]] = field(default_factory=list)
    campaigns: list[CampaignReplay] = field(default_factory=list)


@dataclass
class SurfaceResult:
    surface: Surface
    truth: GroundTruth
    budget: int
    seeds: list[int]
    by_strategy: dict[str, StrategyRuns]
    grid_whole_space: StrategyRuns  # the grid over every config, not cut at the budget


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # OptunaSearch warns once per campaign about define-by-run spaces and ray's ConcurrencyLimiter
    # logs each limit hit; neither says anything about the benchmark.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)


_TRUTHS: dict[tuple[str, int], GroundTruth] = {}  # per worker process: the last truth loaded


def worker_truth(surface: Surface, world: World = UNCHANGED) -> GroundTruth:
    """``surface``'s truth in ``world`` from the cache, kept for the next job (jobs come grouped by
    surface and world, so one truth at a time is held)."""
    key = (surface.name, world.index)
    if key not in _TRUTHS:
        _TRUTHS.clear()
        _TRUTHS[key] = load_ground_truth(surface, world=world)
    return _TRUTHS[key]


def run_strategy(surface: Surface, truth: GroundTruth, strategy: Strategy, seed: int, budget: int, noise: NoiseModel,
                 gap_budgets: Sequence[int] = GAP_BUDGETS) -> tuple[RunSummary, list[Point], CampaignReplay]:
    """One replayed campaign of ``strategy`` with ``seed`` and at most ``budget`` search trials."""
    contender = strategy.build(surface, seed, budget)
    campaign = replay_with_answer(truth, contender.searcher, contender.scheduler, slots=surface.task.budget.gpus,
                                  budget=budget, noise=noise, seed=seed, load_hint=contender.load_hint,
                                  alike=contender.alike)
    summary, points = summarise(truth, strategy.name, seed if strategy.seeded else None, campaign, gap_budgets)
    return summary, points, campaign


def _job(job: tuple[Surface, str, int, int, NoiseModel, tuple[int, ...]]
         ) -> tuple[RunSummary, list[Point], CampaignReplay]:
    surface, strategy, seed, budget, noise, gap_budgets = job
    quiet_optuna()
    return run_strategy(surface, worker_truth(surface), strategy_named(strategy), seed, budget, noise, gap_budgets)


def run_seeds(surface: Surface, truth: GroundTruth, strategy: Strategy, seeds: Sequence[int], budget: int,
              noise: NoiseModel, gap_budgets: Sequence[int]) -> StrategyRuns:
    """A strategy's campaigns, one per seed (one in all for a deterministic strategy), in this process."""
    runs = StrategyRuns(strategy)
    for seed in seeds if strategy.seeded else seeds[:1]:
        _add(runs, run_strategy(surface, truth, strategy, seed, budget, noise, gap_budgets))
    return runs


def _add(runs: StrategyRuns, run: tuple[RunSummary, list[Point], CampaignReplay]) -> None:
    summary, points, campaign = run
    runs.summaries.append(summary)
    runs.points.append(points)
    runs.campaigns.append(campaign)


def run_search_benchmark(surfaces: Sequence[Surface], seeds: Sequence[int], budget: int,
                         strategies: Sequence[Strategy] = STRATEGIES, noise: NoiseModel = NoiseModel(),
                         progress: Callable[[str], None] = print, processes: int = 2) -> list[SurfaceResult]:
    """Every strategy x seed on every surface, in ``processes`` worker processes."""
    quiet_optuna()
    results = []
    for surface in surfaces:
        truth = load_ground_truth(surface, progress=progress)
        check_auto_tune_configs(surface, truth)
        gaps = (*GAP_BUDGETS, budget)
        jobs = [(surface, strategy.name, seed, budget, noise, gaps)
                for strategy in strategies for seed in (seeds if strategy.seeded else seeds[:1])]
        jobs.append((surface, GRID.name, seeds[0], len(truth.configs), noise, gaps))  # the grid over the whole space
        by_strategy = {strategy.name: StrategyRuns(strategy) for strategy in strategies}
        whole = StrategyRuns(GRID)
        with Pool(processes) as pool:
            for n, run in enumerate(pool.imap(_job, jobs)):
                _add(whole if n == len(jobs) - 1 else by_strategy[jobs[n][1]], run)
        progress(f"{surface.name}: {len(jobs)} campaigns of {len(strategies)} strategies done")
        results.append(SurfaceResult(surface, truth, budget, list(seeds), by_strategy, whole))
    return results


__all__ = ["GAP_BUDGETS", "StrategyRuns", "SurfaceResult", "quiet_optuna", "run_search_benchmark", "run_seeds",
           "run_strategy", "worker_truth"]
