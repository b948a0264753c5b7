"""The Optuna samplers a task can ask for, by name (``search.algorithm``).

>>> make_sampler("tpe", seed=0).__class__.__name__
'TPESampler'
"""

from __future__ import annotations

from typing import Callable

import optuna

# search.algorithm -> a sampler from its seed. TPE is multivariate and grouped, so conditional
# parameters (``when:``) are modelled jointly with what they depend on; constant liar keeps
# parallel trials apart; infeasible trials are a constraint rather than scores.
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
ALGORITHMS = tuple(SAMPLERS)


def make_sampler(algorithm: str, seed: int) -> optuna.samplers.BaseSampler:
    """The seeded sampler ``search.algorithm`` names."""
    factory = SAMPLERS.get(algorithm)
    if factory is None:
        raise ValueError(f"unknown search algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    return factory(seed)


__all__ = ["ALGORITHMS", "SAMPLERS", "make_sampler"]
