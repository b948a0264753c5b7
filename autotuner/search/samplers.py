"""The Optuna samplers a task can ask for, by name (``search.algorithm``).

>>> make_sampler("tpe", seed=0).__class__.__name__
'TPESampler'
"""

from __future__ import annotations

import optuna

ALGORITHMS = ("tpe", "random")


def make_sampler(algorithm: str, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded sampler. TPE is multivariate and grouped, so conditional parameters (``when:``)
    are modelled jointly with what they depend on; constant liar keeps parallel trials apart;
    infeasible trials are a constraint rather than scores."""
    if algorithm == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if algorithm == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    raise ValueError(f"unknown search algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


__all__ = ["ALGORITHMS", "make_sampler"]
