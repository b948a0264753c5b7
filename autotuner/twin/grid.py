"""The configs of a task's search space: every one where the space is small, a stratified sample
where it is huge.

The grid is nested loops, the first listed parameter outermost; a parameter with ``when`` only gets
a loop where its condition holds, exactly as the define-by-run :class:`~autotuner.task.space.SearchSpace`
only samples it there. The benchmarks evaluate every config of a surface this way; the twin screens
the grid, or a sample of it in which every value (or every stretch of a range) of every parameter
appears equally often (a Latin hypercube), so no region of the space goes unseen.

>>> from autotuner.task.spec import ParamSpace
>>> param_values("mem_fraction_static", ParamSpace(low=0.8, high=0.9, step=0.05), is_int=False)
[0.8, 0.85, 0.9]
"""

from __future__ import annotations

import json
import math
import random
from typing import Any, Iterator

from autotuner.task.space import SearchSpace
from autotuner.task.spec import ParamSpace

# Optuna returns stepped floats with float noise (0.5700000000000001); keys round it away.
KEY_DECIMALS = 6
# Every config is evaluated: past these the grid is a mistake in the space, not a benchmark.
MAX_VALUES = 10_000
MAX_CONFIGS = 1_000_000


class NotDiscrete(ValueError):
    """A parameter range without a step, or one too fine to list: it has no usable grid."""


def param_values(name: str, ps: ParamSpace, is_int: bool) -> list[Any]:
    """Every value one parameter can take, in ascending (or listed) order (``is_int``: an integer
    parameter, :attr:`autotuner.task.space.SearchSpace.int_params`)."""
    if ps.choices is not None:
        return list(ps.choices)
    assert ps.low is not None and ps.high is not None
    if ps.step is None and not is_int:
        raise NotDiscrete(f"{name}: a float range needs a step to be enumerated")
    if ps.log and ps.step is None and is_int:
        raise NotDiscrete(f"{name}: a log-scale int range is too large to enumerate; list choices")
    step = ps.step or 1
    steps = (ps.high - ps.low) / step
    if not steps < MAX_VALUES:  # also catches inf and nan
        raise NotDiscrete(f"{name}: {ps.low}..{ps.high} in steps of {step} is more than {MAX_VALUES} values")
    count = int(round(steps))
    values = [ps.low + i * step for i in range(count + 1)]
    return [int(round(v)) for v in values] if is_int else [round(v, 10) for v in values]


def grid_configs(space: SearchSpace) -> list[dict[str, Any]]:
    """Every config of the space (fixed values merged in), in nested-loop order; at most
    :data:`MAX_CONFIGS` of them (:class:`NotDiscrete` otherwise)."""
    params = [(name, ParamSpace(**raw), name in space.int_params) for name, raw in space.params]
    configs = []
    for config in _nested(params, dict(space.fixed)):
        if len(configs) == MAX_CONFIGS:
            raise NotDiscrete(f"the space has more than {MAX_CONFIGS} configs")
        configs.append(config)
    return configs


def _nested(params: list[tuple[str, ParamSpace, bool]], values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not params:
        yield dict(values)
        return
    (name, ps, is_int), rest = params[0], params[1:]
    if ps.when and any(values.get(dep) != want for dep, want in ps.when.items()):
        yield from _nested(rest, values)
        return
    for value in param_values(name, ps, is_int):
        yield from _nested(rest, {**values, name: value})


def config_key(config: dict[str, Any]) -> str:
    """A canonical text key of a config: sorted names, floats rounded (Optuna's float noise)."""
    def norm(v: Any) -> Any:
        return round(v, KEY_DECIMALS) if isinstance(v, float) else v
    return json.dumps({k: norm(v) for k, v in sorted(config.items())}, separators=(",", ":"))


def space_size(space: SearchSpace) -> float:
    """How many configs the space has (``inf`` with a continuous range)."""
    params = [(name, ParamSpace(**raw), name in space.int_params) for name, raw in space.params]

    def count(i: int, values: dict[str, Any]) -> float:
        if i == len(params):
            return 1.0
        name, ps, is_int = params[i]
        if ps.when and any(values.get(dep) != want for dep, want in ps.when.items()):
            return count(i + 1, values)
        if ps.choices is not None:  # a choice may decide a later condition
            return sum(count(i + 1, {**values, name: v}) for v in ps.choices)
        try:
            n = len(param_values(name, ps, is_int))
        except NotDiscrete:
            return math.inf
        return n * count(i + 1, values)  # a range decides no condition (conditions name choices)

    return count(0, dict(space.fixed))


def stratified_configs(space: SearchSpace, size: int, seed: int = 0) -> list[dict[str, Any]]:
    """About ``size`` distinct configs in which each parameter's values (a range: ``size`` evenly
    spaced points of it, on a log scale for ``log``) are spread evenly and combined at random."""
    rng = random.Random(seed)
    columns: dict[str, list[Any]] = {}
    for name, raw in space.params:
        ps, is_int = ParamSpace(**raw), name in space.int_params
        levels = _levels(name, ps, is_int, size)
        column = [levels[i * len(levels) // size] for i in range(size)]
        rng.shuffle(column)
        columns[name] = column
    seen: dict[str, dict[str, Any]] = {}
    for i in range(size):
        values = dict(space.fixed)
        for name, raw in space.params:
            when = raw.get("when")
            if when and any(values.get(dep) != want for dep, want in when.items()):
                continue
            values[name] = columns[name][i]
        seen.setdefault(config_key(values), values)
    return list(seen.values())


def _levels(name: str, ps: ParamSpace, is_int: bool, size: int) -> list[Any]:
    """The values a sample of ``size`` draws a parameter from, in order."""
    try:
        values = param_values(name, ps, is_int)
    except NotDiscrete:
        values = []
    if values and len(values) <= size:
        return values
    assert ps.low is not None and ps.high is not None
    lo, hi = (math.log(ps.low), math.log(ps.high)) if ps.log else (ps.low, ps.high)
    points = [lo + (hi - lo) * (i + 0.5) / size for i in range(size)]
    points = [math.exp(p) for p in points] if ps.log else points
    # Repeats stay: on a log scale the small values of an int range are drawn more often, as asked.
    if is_int:
        return [int(round(p)) for p in points]
    if ps.step:
        return [round(ps.low + round((p - ps.low) / ps.step) * ps.step, 10) for p in points]
    return [round(p, KEY_DECIMALS) for p in points]


def configs_to_screen(space: SearchSpace, limit: int, seed: int = 0) -> tuple[list[dict[str, Any]], float]:
    """(the configs the twin screens, how many the space has): the whole grid when it has at most
    ``limit`` configs, else a stratified sample of ``limit``."""
    total = space_size(space)
    if total <= limit:
        return grid_configs(space), total
    return stratified_configs(space, limit, seed), total


__all__ = ["MAX_CONFIGS", "MAX_VALUES", "NotDiscrete", "config_key", "configs_to_screen", "grid_configs",
           "param_values", "space_size", "stratified_configs"]
