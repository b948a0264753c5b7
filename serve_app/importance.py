"""Which engine parameters mattered, computed by Optuna's PED-ANOVA importance evaluator over a
campaign's trials (the campaign's search space as the distributions, each trial's score as the
value; conditional parameters count where they were sampled)::

    ranked = parameter_importance(spec, trials)     # [("mem_fraction_static", 0.61), ...], least first

PED-ANOVA needs only numpy (fANOVA would need scikit-learn). It answers "which parameters set the
top trials apart from the rest": the importance of reaching the top ``target_quantile`` of scores.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from autotuner.results.records import TrialRecord
from autotuner.task.spec import ParamSpace, TaskSpec

MIN_TRIALS = 10  # fewer scored trials say too little
TOP_TRIALS = 3  # at least this many trials make the top quantile


def distribution(ps: ParamSpace, is_int: bool) -> Any:
    """The Optuna distribution of one searched parameter (float steps dropped: importance needs
    none, and rounded values would miss the grid)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if ps.choices is not None:
        return CategoricalDistribution(ps.choices)
    assert ps.low is not None and ps.high is not None
    if is_int:
        step = 1 if ps.log else int(ps.step or 1)
        return IntDistribution(int(ps.low), int(ps.high), log=ps.log, step=step)
    return FloatDistribution(ps.low, ps.high, log=ps.log)


def target_quantile(n: int) -> float:
    """10% of the trials, but never fewer than :data:`TOP_TRIALS` of them."""
    return min(0.5, max(0.1, TOP_TRIALS / n))


def parameter_importance(spec: TaskSpec | None, trials: Iterable[TrialRecord]) -> list[tuple[str, float]]:
    """(parameter, importance) of the searched parameters, least important first, importances
    summing to 1; empty below :data:`MIN_TRIALS` scored trials or with nothing searched."""
    if spec is None or not spec.search.space:
        return []
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from optuna.trial import create_trial

    catalogue = spec.engine.engine_flavor.params(spec.engine.version or "")
    dists = {name: distribution(ps, catalogue[name].kind == "int") for name, ps in spec.search.space.items()}
    frozen = []
    for t in trials:
        score = t.score
        if score is None or not math.isfinite(score):
            continue
        config = t.config
        params = {k: config[k] for k in dists if k in config}
        try:
            frozen.append(create_trial(params=params, distributions={k: dists[k] for k in params}, value=score))
        except ValueError:  # a value outside the space (an initial config, an edited spec): left out
            continue
    if len(frozen) < MIN_TRIALS:
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials(frozen)
    evaluator = PedAnovaImportanceEvaluator(target_quantile=target_quantile(len(frozen)))
    ranked = get_param_importances(study, evaluator=evaluator, normalize=True)
    return sorted(((p, float(v)) for p, v in ranked.items()), key=lambda pv: pv[1])
