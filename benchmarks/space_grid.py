"""The discrete search space of a task as an explicit list of configs.

The benchmarks need every config the search could propose (to evaluate them all) and the order a
hand-written sweep would take them: nested loops, the first listed parameter outermost. A
parameter with ``when`` only gets a loop where its condition holds, exactly as the define-by-run
:class:`~autotuner.task.space.SearchSpace` only samples it there.

>>> from autotuner.task.spec import ParamSpace
>>> param_values("mem_fraction_static", ParamSpace(low=0.8, high=0.9, step=0.05), is_int=False)
[0.8, 0.85, 0.9]
"""

from __future__ import annotations

import json
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


__all__ = ["MAX_CONFIGS", "MAX_VALUES", "NotDiscrete", "config_key", "grid_configs", "param_values"]
