"""A searcher that proposes a given list of configs, in order, then finishes (the re-measurement).

Tune's ``BasicVariantGenerator`` only takes points whose keys are in the experiment's param space;
the re-measurement has none, so its configs come from here::

    tune.TuneConfig(search_alg=FixedConfigs([{"tp_size": 2, ...}, ...]), num_samples=2)
"""

from __future__ import annotations

from typing import Any, Sequence

from ray.tune.search import Searcher


class FixedConfigs(Searcher):
    """Proposes ``configs`` one by one; learns nothing."""

    def __init__(self, configs: Sequence[dict[str, Any]]):
        super().__init__()
        self._configs = [dict(c) for c in configs]
        self._next = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self._next >= len(self._configs):
            return Searcher.FINISHED
        self._next += 1
        return dict(self._configs[self._next - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """A fixed list does not learn."""

    def save(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "wb") as f:
            pickle.dump((self._configs, self._next), f)

    def restore(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "rb") as f:
            self._configs, self._next = pickle.load(f)


__all__ = ["FixedConfigs"]
