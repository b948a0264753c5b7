"""Every config the tuner can generate for a task: each catalogue choice, range edges, the task's
initial configs and space choices, and random configs sampled from its search space."""

from __future__ import annotations

import math
from typing import Any, Iterator

import optuna

from autotuner.flavors import EngineFlavor
from autotuner.task.space import SearchSpace
from autotuner.task.spec import TaskSpec

RANDOM_CONFIGS = 30


def catalogue_configs(flavor: EngineFlavor, version: str) -> Iterator[dict[str, Any]]:
    """One config per catalogue value: every choice (both values of a flag) and every bound."""
    for name, param in flavor.params(version).items():
        if param.kind == "bool":
            values: list[Any] = [False, True]
        elif param.choices is not None:
            values = list(param.choices)
        else:
            values = [edge for edge in _edges(param.low, param.low_exclusive, param.kind, +1)
                      + _edges(param.high, param.high_exclusive, param.kind, -1)]
            values += [-1] if param.allow_minus_one else []
        for value in values:
            assert param.check(value) is None, (name, value)
            yield {name: value}


def _edges(bound: float | None, exclusive: bool, kind: str, inward: int) -> list[Any]:
    if bound is None:
        return [2**20] if inward < 0 else []
    if kind == "int":
        return [int(bound) + inward if exclusive else int(bound)]
    return [round(bound + inward * 0.01, 2) if exclusive else bound]


def task_configs(spec: TaskSpec, seed: int = 0) -> Iterator[dict[str, Any]]:
    """The task's initial configs, each space value alone (choices, range ends), and random
    configs drawn from its search space the way the campaign draws them."""
    fixed = dict(spec.engine.fixed)
    for config in spec.search.initial_configs:
        yield {**fixed, **config}
    for name, ps in spec.search.space.items():
        values = ps.choices if ps.choices is not None else [ps.low, ps.high]
        catalogue = spec.engine.engine_flavor.params(spec.engine.version or "")
        for value in values:
            if catalogue[name].kind == "int":
                value = int(math.floor(value))
            yield {**fixed, name: value}
    space = SearchSpace.from_spec(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(RANDOM_CONFIGS):
        trial = study.ask()
        yield {**space(trial), **trial.params}
