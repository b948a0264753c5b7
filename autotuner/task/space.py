"""The search space as an Optuna define-by-run function, built from the task spec.

It is a class instance rather than a closure so that OptunaSearch can pickle it by reference
and ``Tuner.restore`` can import it again (a function living in ``__main__`` cannot be)::

    space = SearchSpace.from_spec(spec)
    OptunaSearch(space=space, metric="score", mode="max", seed=spec.seed)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from autotuner.flavors import all_param_names, short_names
from autotuner.task.space_order import sampling_order
from autotuner.task.spec import ParamSpace, TaskSpec


@dataclass(frozen=True)
class SearchSpace:
    """Engine parameters to sample (in dependency order, so a condition only reads values already
    sampled) and constants merged into every config."""

    params: tuple[tuple[str, dict[str, Any]], ...]
    fixed: tuple[tuple[str, Any], ...]
    int_params: frozenset[str] = frozenset()  # sampled as integers

    @classmethod
    def from_spec(cls, spec: TaskSpec) -> "SearchSpace":
        """The space of a valid spec, each parameter after those its ``when`` names."""
        space = spec.search.space
        order, _ = sampling_order(space)  # a valid spec has no cycle
        params = tuple((name, space[name].model_dump(exclude_none=True)) for name in order)
        catalogue = spec.engine.engine_flavor.params(spec.engine.version or "")
        ints = frozenset(name for name in order if catalogue[name].kind == "int")
        return cls(params=params, fixed=tuple(spec.engine.fixed.items()), int_params=ints)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        values = dict(self.fixed)
        for name, raw in self.params:
            ps = ParamSpace(**raw)
            if ps.when and any(values.get(dep) != want for dep, want in ps.when.items()):
                continue
            values[name] = suggest(trial, name, ps, name in self.int_params)
        # Constants go in the returned dict: OptunaSearch merges them into the trial config.
        return dict(self.fixed)


def suggest(trial: optuna.Trial, name: str, ps: ParamSpace, is_int: bool) -> Any:
    """Sample one parameter the way its spec says."""
    if ps.choices is not None:
        return trial.suggest_categorical(name, ps.choices)
    assert ps.low is not None and ps.high is not None
    if is_int:
        return trial.suggest_int(name, int(ps.low), int(ps.high), log=ps.log, step=int(ps.step or 1))
    return trial.suggest_float(name, ps.low, ps.high, log=ps.log, step=ps.step)


ENGINE_KEYS = all_param_names()


def engine_args(config: dict[str, Any]) -> dict[str, Any]:
    """The engine parameters of a Tune config (drops anything Tune or the search added).

    Floats are rounded to 6 decimals: Optuna's stepped floats come back as 0.9199999999999999,
    which would otherwise end up in the launch command.
    """
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in config.items() if k in ENGINE_KEYS}


def describe_config(config: dict[str, Any]) -> str:
    """A config in one short line: ``tp=1 mem=0.85 mrr=128``."""
    parts = []
    for k, v in engine_args(config).items():
        if isinstance(v, float):
            v = f"{v:.3g}"
        parts.append(f"{short_names().get(k, k)}={v}")
    return " ".join(parts)
