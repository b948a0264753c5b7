"""The search strategies compared, each as a (searcher, scheduler) pair for the replay.

The campaign's own strategies come from :mod:`autotuner.campaign`'s factories, so the replay runs
the very ``OptunaSearch`` (define-by-run :class:`~autotuner.space.SearchSpace`, the same sampler
settings) behind the same ``ConcurrencyLimiter``, and the very ``ASHAScheduler`` (or
``FIFOScheduler`` without early stopping), that ``autotuner run`` builds for the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from autotuner.space import SearchSpace
from benchmarks.baselines import AutoTuneSearcher, GridSearcher
from benchmarks.ground_truth import GroundTruth
from benchmarks.replay import Scheduler, Searcher
from benchmarks.space_grid import config_key, grid_configs, param_values
from benchmarks.surface import Surface

Build = Callable[[Surface, int, int], tuple[Searcher, Scheduler]]


@dataclass(frozen=True)
class Strategy:
    name: str  # id in CSV files
    label: str  # in tables and plots
    seeded: bool  # False: the strategy is deterministic, one run stands for every seed
    build: Build  # (surface, seed, trial budget) -> (searcher, scheduler)


def _campaign_search(algorithm: str, early_stopping: str, grace_levels: int | None = None) -> Build:
    def build(surface: Surface, seed: int, budget: int) -> tuple[Searcher, Scheduler]:
        from autotuner.campaign import _scheduler, _searcher

        spec = surface.with_search(seed=seed, trials=budget, algorithm=algorithm, early_stopping=early_stopping,
                                   grace_levels=grace_levels)
        scheduler = _scheduler(spec)
        scheduler.set_search_properties("score", "max")  # what TuneConfig(metric=, mode=) does
        return _searcher(spec), scheduler
    return build


def _fifo() -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _grid(surface: Surface, seed: int, budget: int) -> tuple[Searcher, Scheduler]:
    return GridSearcher(grid_configs(SearchSpace.from_spec(surface.task))), _fifo()


def _auto_tune(surface: Surface, seed: int, budget: int) -> tuple[Searcher, Scheduler]:
    space = surface.task.search.space
    values = {name: param_values(name, space[name])
              for name in ("mem_fraction_static", "max_running_requests", "chunked_prefill_size")}
    searcher = AutoTuneSearcher({**surface.task.engine.fixed, **surface.auto_tune_fixed}, values["mem_fraction_static"],
                                values["max_running_requests"], values["chunked_prefill_size"])
    return searcher, _fifo()


GRID = Strategy("grid", "Grid, hand-written loop order", False, _grid)
STRATEGIES: tuple[Strategy, ...] = (
    Strategy("tpe_asha", "Optuna TPE + ASHA (ours)", True, _campaign_search("tpe", "asha")),
    # The same search with ASHA's first rung moved to level 3: what it costs to stop killing
    # configs whose advantage only shows at high concurrency.
    Strategy("tpe_asha_grace3", "Optuna TPE + ASHA, grace 3 levels", True, _campaign_search("tpe", "asha", 3)),
    Strategy("tpe", "Optuna TPE, no early stopping", True, _campaign_search("tpe", "none")),
    Strategy("random_asha", "Random + ASHA", True, _campaign_search("random", "asha")),
    Strategy("random", "Random search", True, _campaign_search("random", "none")),
    GRID,
    Strategy("vllm_auto_tune", "vLLM auto_tune procedure", False, _auto_tune),
)


def check_auto_tune_configs(surface: Surface, truth: GroundTruth) -> None:
    """auto_tune's configs must be configs of the space (so their ground truth exists)."""
    searcher, _ = _auto_tune(surface, 0, 0)
    for mem in searcher.memory_fractions:
        for running in searcher.running:
            for chunk in searcher.chunks:
                key = config_key(searcher.config_for(mem, running, chunk))
                if key not in truth.outcomes:
                    raise ValueError(f"{surface.name}: auto_tune_fixed gives a config outside the space: {key}")


__all__ = ["GRID", "STRATEGIES", "Strategy", "check_auto_tune_configs"]
