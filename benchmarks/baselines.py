"""The baselines' proposers, with the searcher calls the replay makes.

* :class:`GridSearcher`: a hand-written sweep, every config in nested-loop order.
* :class:`AutoTuneSearcher`: vLLM's ``benchmarks/auto_tune/auto_tune.sh``, in the engine's own
  names (:data:`AUTO_TUNE_PARAMS`: ``gpu_memory_utilization``, ``max_num_seqs`` and
  ``max_num_batched_tokens`` for vLLM, their SGLang counterparts for SGLang): lower the memory
  fraction from the top until a server with the largest max-running-requests and chunked-prefill
  values starts (the probe server is torn down once ready), then benchmark every (max running
  requests x chunked prefill) pair at that fraction, one server at a time, with everything else at
  what the user set by hand.
"""

from __future__ import annotations

from typing import Any, Sequence

from benchmarks.replay import FINISHED, READY, StartOnly

# Per engine flavor: the (memory fraction, max running requests, chunked prefill) parameters.
AUTO_TUNE_PARAMS = {
    "sglang": ("mem_fraction_static", "max_running_requests", "chunked_prefill_size"),
    "vllm": ("gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens"),
}


class GridSearcher:
    """Proposes the configs in the given order, then FINISHED."""

    def __init__(self, configs: Sequence[dict[str, Any]]):
        self._configs = list(configs)
        self._next = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self._next == len(self._configs):
            return FINISHED
        self._next += 1
        return dict(self._configs[self._next - 1])

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A grid does not look at results."""

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """A grid does not look at results."""


class AutoTuneSearcher:
    """auto_tune.sh's procedure; sequential, as the script runs one server at a time."""

    def __init__(self, fixed: dict[str, Any], memory_fractions: Sequence[float],
                 max_running_requests: Sequence[int], chunked_prefill_sizes: Sequence[int],
                 names: tuple[str, str, str] = AUTO_TUNE_PARAMS["sglang"]):
        self.fixed = dict(fixed)
        self.names = names
        self.memory_fractions = sorted(memory_fractions, reverse=True)  # 0.98, 0.97 ... in the script
        self.running = sorted(max_running_requests)
        self.chunks = sorted(chunked_prefill_sizes)
        self.memory: float | None = None  # the fraction found by the probes
        self._probe = 0  # index of the next fraction to probe
        self._pairs = [(r, c) for r in self.running for c in self.chunks]  # the script's loop order
        self._next_pair = 0
        self._in_flight = False

    def config_for(self, memory: float, running: int, chunk: int) -> dict[str, Any]:
        memory_name, running_name, chunk_name = self.names
        return {**self.fixed, memory_name: memory, running_name: running, chunk_name: chunk}

    def suggest(self, trial_id: str) -> dict[str, Any] | StartOnly | str | None:
        if self._in_flight:
            return None
        if self.memory is None:
            if self._probe == len(self.memory_fractions):
                return FINISHED  # "Cannot find a proper gpu_memory_utilization": the script exits
            self._in_flight = True
            return StartOnly(self.config_for(self.memory_fractions[self._probe], self.running[-1], self.chunks[-1]))
        if self._next_pair == len(self._pairs):
            return FINISHED
        running, chunk = self._pairs[self._next_pair]
        self._next_pair += 1
        self._in_flight = True
        return self.config_for(self.memory, running, chunk)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Each server runs its whole benchmark."""

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self._in_flight = False
        if self.memory is not None:
            return
        if result is not None and result.get("status") == READY:
            self.memory = self.memory_fractions[self._probe]
        else:
            self._probe += 1


__all__ = ["AUTO_TUNE_PARAMS", "AutoTuneSearcher", "GridSearcher"]
