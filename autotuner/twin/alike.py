"""Which configs the twin predicts to behave alike: the same outcome, SLO boundary loads and score
by the discrete-event simulator, which is deterministic. Configs that differ only in knobs that do
not bind for this traffic (a memory fraction it never fills, a running-request cap it never
reaches) are such near-copies.

The re-measurement uses it (:func:`autotuner.results.answer.remeasure_candidates`): the best single
measurement among several near-copies is the luckiest one, not a better config, so re-measuring
each of them measures one behaviour several times while the next best distinct config goes
unmeasured::

    alike = predicted_behaviour(spec)              # None without the twin
    alike(config_a) == alike(config_b)             # True: the knobs they differ in do not bind
"""

from __future__ import annotations

import json
from typing import Any, Callable, Hashable

from autotuner.task.space import engine_args
from autotuner.task.spec import TaskSpec
from autotuner.twin.predict import Model, Outcome, Twin, TwinUnavailable

Behaviour = Callable[[dict[str, Any]], Hashable]


def predicted_behaviour(spec: TaskSpec) -> Behaviour | None:
    """A config's predicted behaviour (a Tune config or engine parameters), memoised; None when the
    task's search does not use the twin (``search.prior: none``) or the twin cannot model it. A
    config the twin predicts to fail or to miss the SLOs everywhere is its own behaviour: it was
    measured otherwise, so the twin knows nothing about which configs it resembles."""
    if spec.search.prior != "twin":
        return None
    try:
        twin = Twin(spec)
    except TwinUnavailable:
        return None
    known: dict[str, Hashable] = {}

    def behaviour(config: dict[str, Any]) -> Hashable:
        args = engine_args(config)
        key = json.dumps(args, sort_keys=True, default=str)
        if key not in known:
            prediction = twin.predict(args, Model.SIMULATOR)
            known[key] = ((prediction.boundary, round(prediction.score)) if prediction.outcome is Outcome.OK
                          else key)
        return known[key]

    return behaviour


__all__ = ["Behaviour", "predicted_behaviour"]
