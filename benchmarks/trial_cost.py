"""How long a trial's phases hold its GPUs, in modelled seconds.

A trial holds ``gpus`` GPUs from the moment it starts until its last report (the trainable tears
the engine down right after; genai-bench is killed as soon as the last level, or the stop, comes)::

    engine start-up (genai-bench imports meanwhile) | level 1 | level 2 | ...

* engine start-up: the simulator's modelled ``startup_seconds`` (weights, CUDA graphs, warm-up);
  genai-bench's ~5 s of imports run meanwhile (it is started before the engine), so the first
  level starts after the longer of the two; a config that fails to start holds its GPUs for the
  modelled seconds before it failed;
* a level: genai-bench's ``run_duration`` as measured (the noise model adds its poll slack), never
  longer than the task's ``minutes_per_level`` cap, plus the level server's fork and genai-bench's
  per-level set-up (``LEVEL_START_S``, measured: ``benchmarks/README.md``); a level ended as soon
  as it provably broke an SLO (:mod:`autotuner.bench.fail_fast`) measured until then.
"""

from __future__ import annotations

from autotuner.bench.result import LevelResult

GENAI_BENCH_START_S = 5.0  # imports and start-up of genai-bench 0.0.5 on a 2-core box (NOTES.md)
LEVEL_START_S = 0.1  # fork + tokenizer + locust set-up of one level in the level server


def first_level_at(startup_s: float) -> float:
    """Seconds after a trial starts at which its first level begins."""
    return max(startup_s, GENAI_BENCH_START_S)


def level_seconds(level: LevelResult, minutes_per_level: int) -> float:
    """Wall time one measured level occupies."""
    return min(level.duration_s, minutes_per_level * 60.0) + LEVEL_START_S


__all__ = ["GENAI_BENCH_START_S", "LEVEL_START_S", "first_level_at", "level_seconds"]
