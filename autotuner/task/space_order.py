"""The order in which the search samples its parameters: each after those its ``when`` names.

A task file is a mapping, and a mapping has no order a user can rely on (``yaml.safe_dump``
sorts keys by default, as do many editors and generators). So the order comes from the
conditions themselves; among parameters free to go, the file's order is kept::

    >>> from autotuner.task.spec import ParamSpace
    >>> space = {"cuda_graph_max_bs": ParamSpace(choices=[8, 64], when={"disable_cuda_graph": False}),
    ...          "disable_cuda_graph": ParamSpace(choices=[False, True])}
    >>> sampling_order(space)
    (['disable_cuda_graph', 'cuda_graph_max_bs'], [])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # only for the annotation: autotuner.task.spec runs the rules that use this module
    from autotuner.task.spec import ParamSpace


def sampling_order(space: Mapping[str, ParamSpace]) -> tuple[list[str], list[str]]:
    """(every parameter that can be ordered, in sampling order; the parameters caught in a cycle of
    conditions, in file order). Conditions on names outside ``space`` (fixed values) order nothing."""
    needs = {name: {dep for dep in (ps.when or {}) if dep in space} for name, ps in space.items()}
    order: list[str] = []
    placed: set[str] = set()
    while True:
        ready = next((name for name in space if name not in placed and needs[name] <= placed), None)
        if ready is None:
            break
        order.append(ready)
        placed.add(ready)
    return order, [name for name in space if name not in placed]


__all__ = ["sampling_order"]
