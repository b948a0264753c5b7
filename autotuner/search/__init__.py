"""What to try next and when to stop a trial: the campaign's searcher and scheduler.

Two separate axes, as in Ray Tune:

* the searcher (:mod:`autotuner.search.constrained`): Optuna behind Ray's ``OptunaSearch``, with
  infeasibility as a constraint, the search space of :mod:`autotuner.space` and the task's
  ``initial_configs`` first;
* the scheduler (:mod:`autotuner.search.bound_stopping`): stops a trial as soon as its own
  measurements prove it cannot beat the best trial so far.

Early stopping is the scheduler with the load hint (:mod:`autotuner.search.incumbent`): a trial's
first level runs at the best trial's boundary load, which is what lets the bound rule stop a
weaker config after one level; ``early_stopping: none`` turns off both.

::

    tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec), scheduler=make_scheduler(spec))
"""

from __future__ import annotations

from typing import Any

from autotuner.spec import TaskSpec


def make_searcher(spec: TaskSpec, sampler: Any = None) -> Any:
    """The task's searcher, limited to as many trials at once as there are GPU slots; ``sampler``:
    an Optuna sampler instead of the one ``search.algorithm`` names (the benchmarks compare some)."""
    from ray.tune.search import ConcurrencyLimiter

    from autotuner.search.constrained import ConstrainedOptunaSearch
    from autotuner.search.samplers import make_sampler
    from autotuner.space import SearchSpace

    search = ConstrainedOptunaSearch(space=SearchSpace.from_spec(spec), metric="score", mode="max",
                                     sampler=sampler or make_sampler(spec.search.algorithm, spec.seed),
                                     points_to_evaluate=[dict(c) for c in spec.search.initial_configs] or None)
    return ConcurrencyLimiter(search, max_concurrent=spec.budget.gpus)


def uses_load_hint(spec: TaskSpec) -> bool:
    """Whether the task's trials start their load search at the best trial's boundary load."""
    return spec.search.early_stopping != "none"


def make_scheduler(spec: TaskSpec) -> Any:
    """The task's scheduler: early stopping on the trials' bounds, or none (FIFO)."""
    from ray.tune.schedulers import FIFOScheduler

    from autotuner.search.bound_stopping import BoundStoppingScheduler

    if spec.search.early_stopping == "none" or spec.objective.kind != "goodput_per_gpu":
        return FIFOScheduler()
    return BoundStoppingScheduler(margin=spec.search.stop_margin)


__all__ = ["make_scheduler", "make_searcher", "uses_load_hint"]
