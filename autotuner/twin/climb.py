"""A local search with the discrete-event simulator from the configs the fast path ranked best.

The fast path (:mod:`autotuner.twin.steady`) screens the space; the discrete-event simulator
confirms its head. Where the fast path misjudges how two parameters interact, the simulator's best
config can sit one parameter away from every confirmed one: on the vLLM surface
(``benchmarks/surfaces/vllm-qwen7b-h200.yaml``) the fast path likes tp 1 only with small prefill
batches (``max_num_batched_tokens`` 4096, 4110 output tok/s per GPU in the simulator), while the
simulator's optimum is tp 1 with 16384 (4273). :func:`climb` moves from a few confirmed configs to
their best neighbour while the simulator says it is better::

    confirmed = rank([twin.predict(c, Model.SIMULATOR) for c in head])
    better = climb(twin, space, diversified(confirmed, CLIMB_STARTS), known=confirmed)
"""

from __future__ import annotations

from typing import Any, Sequence

from autotuner.task.space import SearchSpace
from autotuner.task.spec import ParamSpace
from autotuner.twin.grid import NotDiscrete, config_key, param_values
from autotuner.twin.predict import ConfigPrediction, Model, Outcome, Twin

CLIMB_STARTS = 2  # confirmed configs (unlike each other) a search climbs from
CLIMB_STEPS = 2  # moves at most from each
ALL_VALUES = 8  # a parameter with at most this many values moves to any of them; a longer one to nearby values


def neighbours(space: SearchSpace, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The configs of the space one parameter away from ``config``: each parameter moved to its
    other values (a long range: one step and an eighth of the range either way); a parameter whose
    condition a move switches on takes its first value, one switched off is dropped.

    >>> from autotuner.task.spec import TaskSpec
    >>> spec = TaskSpec.model_validate({"name": "t", "model": {"name": "m"},
    ...     "search": {"space": {"tp_size": {"choices": [1, 2]}, "disable_cuda_graph": {"choices": [False, True]},
    ...                          "cuda_graph_max_bs": {"choices": [64, 256], "when": {"disable_cuda_graph": False}}}}})
    >>> neighbours(SearchSpace.from_spec(spec), {"tp_size": 1, "disable_cuda_graph": True})
    [{'tp_size': 2, 'disable_cuda_graph': True}, {'tp_size': 1, 'disable_cuda_graph': False, 'cuda_graph_max_bs': 64}]
    """
    out: dict[str, dict[str, Any]] = {}
    for name, raw in space.params:
        if name not in config:
            continue
        for value in _moves(name, ParamSpace(**raw), name in space.int_params, config[name]):
            moved = _settled(space, {**config, name: value})
            out.setdefault(config_key(moved), moved)
    out.pop(config_key(config), None)
    return list(out.values())


def climb(twin: Twin, space: SearchSpace, starts: Sequence[ConfigPrediction],
          known: Sequence[ConfigPrediction] = (), steps: int = CLIMB_STEPS) -> list[ConfigPrediction]:
    """From each of ``starts``, up to ``steps`` moves to the best neighbour the discrete-event
    simulator scores higher; every config it evaluated on the way that ``known`` (simulator
    predictions made already) lacks."""
    seen = {config_key(p.config): p for p in known}
    new: list[ConfigPrediction] = []
    for start in starts:
        here = start
        for _ in range(steps):
            scored = []
            for config in neighbours(space, here.config):
                key = config_key(config)
                if key not in seen:
                    seen[key] = twin.predict(config, Model.SIMULATOR)
                    new.append(seen[key])
                scored.append(seen[key])
            best = max((p for p in scored if p.outcome is Outcome.OK), key=lambda p: p.score, default=None)
            if best is None or best.score <= here.score:
                break
            here = best
    return new


def _moves(name: str, ps: ParamSpace, is_int: bool, value: Any) -> list[Any]:
    try:
        values = param_values(name, ps, is_int)
    except NotDiscrete:
        return []  # a continuous range without a step: the sampler explores it
    if value not in values:
        return []
    if len(values) <= ALL_VALUES:
        return [v for v in values if v != value]
    i, far = values.index(value), max(2, len(values) // 8)
    return [values[j] for j in sorted({i - far, i - 1, i + 1, i + far}) if 0 <= j < len(values)]


def _settled(space: SearchSpace, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each conditional parameter dropped where its condition fails and given its
    first value where its condition holds but it has none."""
    names = {name for name, _ in space.params}
    out = {k: v for k, v in config.items() if k not in names}  # the fixed engine parameters
    for name, raw in space.params:
        when = raw.get("when")
        if when and any(out.get(dep) != want for dep, want in when.items()):
            continue
        out[name] = config[name] if name in config else param_values(name, ParamSpace(**raw), name in space.int_params)[0]
    return out
