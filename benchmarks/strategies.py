"""The search strategies compared, each as a (searcher, scheduler) pair for the replay.

The campaign's own strategies come from :mod:`autotuner.search`'s factories, so the replay runs
the very ``ConstrainedOptunaSearch`` (define-by-run :class:`~autotuner.task.space.SearchSpace`, the
task's sampler) behind the same ``ConcurrencyLimiter``, and the very ``BoundStoppingScheduler``
(or ``FIFOScheduler`` without early stopping), that ``autotuner run`` builds for the task, with
the load hint where the task uses it. Sampler candidates swap only the Optuna sampler.

``ours_twin`` is the same campaign with ``search.prior: twin`` (the default of a task): the twin,
always the unchanged simulator, starts the search and vetoes what it is sure cannot compete.
``twin_alone`` deploys only the twin's predicted best (``autotuner plan``'s top-1): what a
performance model alone gives, measured in the world the replay runs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from autotuner.task.space import SearchSpace
from autotuner.twin.alike import Behaviour
from benchmarks.baselines import AUTO_TUNE_PARAMS, AutoTuneSearcher, GridSearcher
from benchmarks.ground_truth import GroundTruth
from benchmarks.replay import Scheduler, Searcher
from benchmarks.space_grid import config_key, grid_configs, param_values
from benchmarks.surface import Surface


class Contender(NamedTuple):
    """What one replayed campaign of a strategy runs with."""

    searcher: Searcher
    scheduler: Scheduler
    load_hint: bool = False  # trials start at the best trial's boundary load (the campaign's early stopping)
    alike: Behaviour | None = None  # configs the re-measurement counts once (the campaign's twin)


Build = Callable[[Surface, int, int], Contender]
SamplerFactory = Callable[[int], Any]  # seed -> optuna sampler


@dataclass(frozen=True)
class Strategy:
    name: str  # id in CSV files
    label: str  # in tables and plots
    seeded: bool  # False: the strategy is deterministic, one run stands for every seed
    build: Build  # (surface, seed, trial budget) -> Contender


def _campaign_search(algorithm: str, early_stopping: str, sampler: SamplerFactory | None = None,
                     prior: str = "none") -> Build:
    def build(surface: Surface, seed: int, budget: int) -> Contender:
        from autotuner.search import make_searcher
        from autotuner.stopping import EarlyStopping
        from autotuner.twin.alike import predicted_behaviour

        spec = surface.with_search(seed=seed, trials=budget, algorithm=algorithm, early_stopping=early_stopping,
                                   prior=prior)
        searcher = make_searcher(spec, sampler(seed) if sampler is not None else None)
        stopping = EarlyStopping.from_spec(spec)
        scheduler = stopping.scheduler()
        scheduler.set_search_properties("score", "max")  # what TuneConfig(metric=, mode=) does
        return Contender(searcher, scheduler, stopping.uses_load_hint, predicted_behaviour(spec))
    return build


def _fifo() -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


def _grid(surface: Surface, seed: int, budget: int) -> Contender:
    return Contender(GridSearcher(grid_configs(SearchSpace.from_spec(surface.task))), _fifo())


def _auto_tune(surface: Surface, seed: int, budget: int) -> Contender:
    space = surface.task.search.space
    ints = SearchSpace.from_spec(surface.task).int_params
    names = AUTO_TUNE_PARAMS[surface.task.engine.flavor]
    memory, running, chunk = (param_values(name, space[name], name in ints) for name in names)
    searcher = AutoTuneSearcher({**surface.task.engine.fixed, **surface.auto_tune_fixed}, memory, running, chunk, names)
    return Contender(searcher, _fifo())


_TWIN_BEST: dict[str, dict[str, Any]] = {}  # surface name and SLO -> the twin's predicted best config


def twin_best(surface: Surface) -> dict[str, Any]:
    """``autotuner plan``'s top-1 for the surface's task (the unchanged simulator; memoised)."""
    key = f"{surface.name}|{surface.task.objective.slo.model_dump_json()}"
    if key not in _TWIN_BEST:
        from autotuner.twin.plan import plan_task

        best = plan_task(surface.task).best
        if not best:
            raise ValueError(f"{surface.name}: the twin predicts no config meets the SLOs")
        names = surface.task.search.space
        _TWIN_BEST[key] = {k: v for k, v in best[0].config.items() if k in names}
    return _TWIN_BEST[key]


def _twin_alone(surface: Surface, seed: int, budget: int) -> Contender:
    from autotuner.search.fixed import FixedConfigs

    return Contender(FixedConfigs([twin_best(surface)]), _fifo())


def _tpe_alone(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def _tpe_independent(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _qmc(seed: int) -> Any:
    import optuna

    return optuna.samplers.QMCSampler(seed=seed, scramble=True)


def _gp(seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


def _cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                        independent_sampler=optuna.samplers.RandomSampler(seed=seed))


OURS, OURS_NO_ES, RANDOM, RANDOM_ES = "ours", "ours_no_es", "random", "random_es"
OURS_TWIN, TWIN_ALONE = "ours_twin", "twin_alone"
GRID = Strategy("grid", "Grid, hand-written loop order", False, _grid)
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(OURS, "Optuna TPE, random interleaved, + bound stopping (ours)", True, _campaign_search("tpe", "bound")),
    Strategy(OURS_NO_ES, "Optuna TPE, random interleaved, no early stopping", True, _campaign_search("tpe", "none")),
    Strategy(RANDOM_ES, "Random + bound stopping", True, _campaign_search("random", "bound")),
    Strategy(RANDOM, "Random search", True, _campaign_search("random", "none")),
    GRID,
    Strategy("vllm_auto_tune", "vLLM auto_tune procedure", False, _auto_tune),
)
# Other Optuna samplers behind the same searcher and stopping rule, to choose the default.
# GPSampler is left out of --full: it takes seconds per trial on 2 cores (hours for the comparison).
SAMPLER_CANDIDATES: tuple[Strategy, ...] = (
    Strategy("tpe_alone", "TPE without random interleaving", True, _campaign_search("tpe", "bound", _tpe_alone)),
    Strategy("tpe_independent", "TPE, independent (not multivariate)", True,
             _campaign_search("tpe", "bound", _tpe_independent)),
    Strategy("qmc", "Quasi-Monte Carlo (Sobol)", True, _campaign_search("tpe", "bound", _qmc)),
    Strategy("cmaes", "CMA-ES (random for categoricals)", True, _campaign_search("tpe", "bound", _cmaes)),
)
GP = Strategy("gp", "Gaussian process (GPSampler)", True, _campaign_search("tpe", "bound", _gp))
# The contenders of the hidden worlds (benchmarks/worlds.py): the twin alone, ours with and without
# the twin, random search.
WORLD_CONTENDERS: tuple[Strategy, ...] = (
    Strategy(TWIN_ALONE, "Twin alone: deploy its predicted best", False, _twin_alone),
    Strategy(OURS_TWIN, "Ours with the twin (search.prior: twin, the default)", True,
             _campaign_search("tpe", "bound", prior="twin")),
    Strategy(OURS, "Ours without the twin (search.prior: none)", True, _campaign_search("tpe", "bound")),
    Strategy(RANDOM, "Random search", True, _campaign_search("random", "none")),
)


def strategy_named(name: str) -> Strategy:
    """A strategy by its name (worker processes get names: the builders are closures, not picklable)."""
    for strategy in (*STRATEGIES, *SAMPLER_CANDIDATES, GP, *WORLD_CONTENDERS):
        if strategy.name == name:
            return strategy
    raise KeyError(f"no strategy named {name!r}")


def check_auto_tune_configs(surface: Surface, truth: GroundTruth) -> None:
    """auto_tune's configs must be configs of the space (so their ground truth exists)."""
    searcher = _auto_tune(surface, 0, 0).searcher
    for mem in searcher.memory_fractions:
        for running in searcher.running:
            for chunk in searcher.chunks:
                key = config_key(searcher.config_for(mem, running, chunk))
                if key not in truth.configs:
                    raise ValueError(f"{surface.name}: auto_tune_fixed gives a config outside the space: {key}")


__all__ = ["Contender", "GP", "GRID", "OURS", "OURS_NO_ES", "OURS_TWIN", "RANDOM", "RANDOM_ES", "SAMPLER_CANDIDATES",
           "STRATEGIES", "TWIN_ALONE", "WORLD_CONTENDERS", "Strategy", "check_auto_tune_configs", "strategy_named",
           "twin_best"]
