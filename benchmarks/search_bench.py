"""The search-strategy comparison: every strategy on every surface, same trial budget, same seeds.

Pure computation over the ground truth (no Ray cluster, no process): each run is a
:func:`~benchmarks.replay.replay_with_answer` of one strategy with one seed, measured through the
noise model (seeded by the seed). Deterministic strategies (grid, vLLM auto_tune) run once. The grid
is also replayed over the whole space, in its order, to know what a complete hand-written sweep
costs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

from benchmarks.ground_truth import GroundTruth, cache_path, load_ground_truth
from benchmarks.metrics import Point, RunSummary, summarise
from benchmarks.noise import NoiseModel
from benchmarks.replay import CampaignReplay, replay_with_answer
from benchmarks.strategies import GRID, STRATEGIES, Strategy, check_auto_tune_configs
from benchmarks.surface import Surface

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


def run_strategy(surface: Surface, truth: GroundTruth, strategy: Strategy, seed: int, budget: int, noise: NoiseModel,
                 gap_budgets: Sequence[int] = GAP_BUDGETS) -> tuple[RunSummary, list[Point], CampaignReplay]:
    """One replayed campaign of ``strategy`` with ``seed`` and at most ``budget`` search trials."""
    contender = strategy.build(surface, seed, budget)
    campaign = replay_with_answer(truth, contender.searcher, contender.scheduler, slots=surface.task.budget.gpus,
                                  budget=budget, noise=noise, seed=seed, load_hint=contender.load_hint)
    summary, points = summarise(truth, strategy.name, seed if strategy.seeded else None, campaign, gap_budgets)
    return summary, points, campaign


def run_seeds(surface: Surface, truth: GroundTruth, strategy: Strategy, seeds: Sequence[int], budget: int,
              noise: NoiseModel, gap_budgets: Sequence[int]) -> StrategyRuns:
    """A strategy's campaigns, one per seed (one in all for a deterministic strategy)."""
    runs = StrategyRuns(strategy)
    for seed in seeds if strategy.seeded else seeds[:1]:
        summary, points, campaign = run_strategy(surface, truth, strategy, seed, budget, noise, gap_budgets)
        runs.summaries.append(summary)
        runs.points.append(points)
        runs.campaigns.append(campaign)
    return runs


def run_search_benchmark(surfaces: Sequence[Surface], seeds: Sequence[int], budget: int,
                         strategies: Sequence[Strategy] = STRATEGIES, noise: NoiseModel = NoiseModel(),
                         progress: Callable[[str], None] = print) -> list[SurfaceResult]:
    """Every strategy x seed on every surface."""
    quiet_optuna()
    results = []
    for surface in surfaces:
        truth = load_ground_truth(surface, progress=progress)
        check_auto_tune_configs(surface, truth)
        gaps = (*GAP_BUDGETS, budget)
        by_strategy = {}
        for strategy in strategies:
            by_strategy[strategy.name] = run_seeds(surface, truth, strategy, seeds, budget, noise, gaps)
            progress(f"{surface.name}: {strategy.name} done ({len(by_strategy[strategy.name].summaries)} runs)")
        whole = run_seeds(surface, truth, GRID, seeds, len(truth.configs), noise, gaps)
        truth.save(cache_path(surface))  # keep the levels the replays evaluated for the next run
        results.append(SurfaceResult(surface, truth, budget, list(seeds), by_strategy, whole))
    return results


__all__ = ["GAP_BUDGETS", "StrategyRuns", "SurfaceResult", "quiet_optuna", "run_search_benchmark", "run_seeds",
           "run_strategy"]
