"""What to try next: the campaign's searcher (when to stop a trial is the other axis, :mod:`autotuner.stopping`).

The searcher (:mod:`autotuner.search.constrained`) is Optuna behind Ray's ``OptunaSearch``, with
infeasibility as a constraint, the search space of :mod:`autotuner.task.space` and the task's
``initial_configs`` first; :mod:`autotuner.search.samplers` names the samplers, and
:mod:`autotuner.search.fixed` proposes a given list (the re-measurement)::

    tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec),
                    scheduler=EarlyStopping.from_spec(spec).scheduler())
"""

from __future__ import annotations

from typing import Any

from autotuner.task.spec import TaskSpec


def make_searcher(spec: TaskSpec, sampler: Any = None) -> Any:
    """The task's searcher, limited to as many trials at once as there are GPU slots; ``sampler``:
    an Optuna sampler instead of the one ``search.algorithm`` names (the benchmarks compare some)."""
    from ray.tune.search import ConcurrencyLimiter

    from autotuner.search.constrained import ConstrainedOptunaSearch
    from autotuner.search.samplers import make_sampler
    from autotuner.task.space import SearchSpace

    search = ConstrainedOptunaSearch(space=SearchSpace.from_spec(spec), metric="score", mode="max",
                                     sampler=sampler or make_sampler(spec.search.algorithm, spec.seed),
                                     points_to_evaluate=[dict(c) for c in spec.search.initial_configs] or None)
    return ConcurrencyLimiter(search, max_concurrent=spec.budget.gpus)


__all__ = ["make_searcher"]
