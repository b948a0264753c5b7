"""Live progress for the CLI: one line per trial event, and a summary line as trials end.

    12:01:02 trial 3f2a_00001 deploying on 1 GPU: tp=1 mem=0.85 mrr=128 chunk=4096
    12:01:09 trial 3f2a_00001 level 2/4 D(100,100) c=8: 1843 tok/s/GPU ttft90 41ms tpot90 9ms ok  score 1843
    12:01:15 trial 3f2a_00001 stopped early: stopped by ASHA after level 2 of 4
    12:01:15 progress: 5/12 trials ended, 4 running, best 2210 tok/s/GPU (3f2a_00004)
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from autotuner.placement import GPU, SIMULATED_GPU
from autotuner.space import engine_args

_SHORT = {"tp_size": "tp", "dp_size": "dp", "mem_fraction_static": "mem", "max_running_requests": "mrr",
          "chunked_prefill_size": "chunk", "max_prefill_tokens": "prefill", "schedule_policy": "policy",
          "schedule_conservativeness": "conserv", "cuda_graph_max_bs": "graph_bs",
          "disable_cuda_graph": "no_graph", "kv_cache_dtype": "kv", "enable_mixed_chunk": "mixed",
          "disable_radix_cache": "no_radix"}


def describe_config(config: dict[str, Any]) -> str:
    """A config in one short line: ``tp=1 mem=0.85 mrr=128``."""
    parts = []
    for k, v in engine_args(config).items():
        if isinstance(v, float):
            v = f"{v:.3g}"
        parts.append(f"{_SHORT.get(k, k)}={v}")
    return " ".join(parts)


def describe_level(result: dict[str, Any], num_levels: int, unit: str) -> str:
    """One reported level in one line."""
    def ms(key: str) -> str:
        v = result.get(key)
        return "n/a" if v is None else f"{v * 1000:.0f}ms"

    slo = "ok" if result.get("meets_slo") else "SLO missed"
    return (f"level {result['level']}/{num_levels} {result['scenario']} c={result['concurrency']}: "
            f"{result['output_tok_s_per_gpu']:.0f} tok/s/GPU ttft90 {ms('ttft_p90_s')} tpot90 {ms('tpot_p90_s')} "
            f"err {result.get('error_rate', 0):.0%} {slo}  score {result['score']:.4g} ({unit})")


class ProgressPrinter(Callback):
    """Prints trial events as they happen (for the CLI; the web app has its own view)."""

    def __init__(self, num_levels: int, num_trials: int, unit: str, stream: TextIO | None = None):
        self.num_levels = num_levels
        self.num_trials = num_trials
        self.unit = unit
        self._stream = stream
        self._ended: set[str] = set()
        self._best: tuple[float, str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"num_levels": self.num_levels, "num_trials": self.num_trials, "unit": self.unit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _print(self, text: str) -> None:
        out = self._stream or sys.stdout
        print(f"{time.strftime('%H:%M:%S')} {text}", file=out, flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        claimed = trial.placement_group_factory.required_resources or {}
        gpus = sum(claimed.get(slot, 0) for slot in (GPU, SIMULATED_GPU))
        where = f"deploying on {gpus:g} GPU" if gpus else "checking (claims no GPU: it cannot fit)"
        self._print(f"trial {trial.trial_id} {where}: {describe_config(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if "scenario" in result:
            self._print(f"trial {trial.trial_id} {describe_level(result, self.num_levels, self.unit)}")
        if result.get("feasible") and (self._best is None or result["score"] > self._best[0]):
            self._best = (result["score"], trial.trial_id)
        status = result.get("status")
        if status in ("failed", "rejected"):
            self._print(f"trial {trial.trial_id} {status}: {result.get('reason', '')}")
            tail = result.get("log_tail")
            if tail:
                self._print("  " + tail.replace("\n", "\n  "))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        if last.get("status") == "running":
            self._print(f"trial {trial.trial_id} stopped early by ASHA after level {last.get('level')} "
                        f"of {self.num_levels} (score {last.get('score', 0):.4g})")
        elif last.get("status") == "done":
            self._print(f"trial {trial.trial_id} done: score {last.get('score', 0):.4g}"
                        + ("" if last.get("feasible") else " (infeasible: " + str(last.get("reason")) + ")"))
        self._ended.add(trial.trial_id)
        self._summary(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"trial {trial.trial_id} errored (see {getattr(trial, 'error_file', '')})")
        self._ended.add(trial.trial_id)
        self._summary(trials)

    def _summary(self, trials: list) -> None:
        running = sum(1 for t in trials if t.status == "RUNNING" and t.trial_id not in self._ended)
        best = f"best {self._best[0]:.4g} {self.unit} ({self._best[1]})" if self._best else "no feasible trial yet"
        self._print(f"progress: {len(self._ended)}/{self.num_trials} trials ended, {running} running, {best}")
