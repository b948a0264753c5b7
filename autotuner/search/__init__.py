"""What to try next: the campaign's searcher (when to stop a trial is the other axis, :mod:`autotuner.stopping`).

The searcher (:mod:`autotuner.search.constrained`) is Optuna behind Ray's ``OptunaSearch``, with
infeasibility as a constraint, the search space of :mod:`autotuner.task.space` and the task's
``initial_configs`` first; :mod:`autotuner.search.samplers` names the samplers, and
:mod:`autotuner.search.fixed` proposes a given list (the re-measurement)::

    tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec),
                    scheduler=EarlyStopping.from_spec(spec).scheduler())
"""

from __future__ import annotations

from typing import Any, Callable

from autotuner.task.spec import TaskSpec


def make_searcher(spec: TaskSpec, sampler: Any = None, announce: Callable[[str], None] | None = None) -> Any:
    """The task's searcher, limited to as many trials at once as there are GPU slots; ``sampler``:
    an Optuna sampler instead of the one ``search.algorithm`` names (the benchmarks compare some).
    With ``search.prior: twin`` the twin's best configs follow the task's ``initial_configs`` (without
    them, the first runs alone while its first level meets the SLOs or the twin, calibrated on its
    levels, still ranks it first), then it proposes (calibrated on the measured levels), starts load
    searches at its predicted boundary loads and vetoes (:mod:`autotuner.twin.guide`); ``announce``
    gets the line saying so."""
    from ray.tune.search import ConcurrencyLimiter

    from autotuner.search.constrained import ConstrainedOptunaSearch
    from autotuner.search.samplers import make_sampler
    from autotuner.task.space import SearchSpace
    from autotuner.twin.grid import config_key
    from autotuner.twin.guide import TwinGuide, twin_start
    from autotuner.twin.predict import TwinUnavailable

    points = [dict(c) for c in spec.search.initial_configs]
    guide, first_alone = None, False
    if spec.search.prior == "twin":
        try:
            start = twin_start(spec)
        except TwinUnavailable as err:
            if announce is not None:
                announce(f"twin: off, {err}; the search starts from nothing")
        else:
            points += [dict(c) for c in start.points]
            guide = TwinGuide(spec, protected={config_key(c) for c in points}, candidates=start.screened,
                              predicted={config_key(c): p for c, p in zip(start.points, start.predictions)},
                              announce=announce)
            first_alone = start.first_alone
            if announce is not None:
                announce(start.line())
    search = ConstrainedOptunaSearch(space=SearchSpace.from_spec(spec), metric="score", mode="max",
                                     sampler=sampler or make_sampler(spec.search.algorithm, spec.seed),
                                     points_to_evaluate=points or None, guide=guide, first_alone=first_alone)
    return ConcurrencyLimiter(search, max_concurrent=spec.budget.gpus)


__all__ = ["make_searcher"]
