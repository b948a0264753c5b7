"""When a trial's reports arrive and what GPU time it holds, in modelled seconds.

A trial holds ``gpus`` GPUs from the moment it starts until its last report (the trainable tears
the engine down right after; genai-bench is killed as soon as the last level, or ASHA's stop,
comes). Its timeline is::

    engine start-up | genai-bench start | level 1 + overhead | level 2 + overhead | ...

* engine start-up: the simulator's modelled ``startup_seconds`` (weights, CUDA graphs, warm-up);
  a config that fails to start holds its GPUs for the modelled seconds before it failed;
* genai-bench start: imports and start-up of the benchmark process, once per trial;
* a level: genai-bench's ``run_duration`` (the simulator's predicted ``duration_s``), never longer
  than the task's ``minutes_per_level`` cap, plus genai-bench's pause and polling after it.

The overheads are genai-bench 0.0.5's, measured on a 2-core box (../shared/genai-bench/NOTES.md,
"Timing and overhead"): about 5 s of imports and start-up, then per level a 1 s pause plus up to
1 s of polling slack (0.5 s on average).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from benchmarks.ground_truth import OK, REJECTED, TrialOutcome

GENAI_BENCH_START_S = 5.0
LEVEL_OVERHEAD_S = 1.0 + 0.5


@dataclass(frozen=True)
class TrialTimeline:
    """Seconds after a trial starts at which its reports arrive; ``bench_start_s`` is when the
    engine is up and the benchmark phase begins (equal to the last report for a failed start)."""

    report_at: tuple[float, ...]
    bench_start_s: float


def level_seconds(duration_s: float, minutes_per_level: int) -> float:
    """Wall time one level occupies: genai-bench's run, cut at its time limit, plus its overhead."""
    return min(duration_s, minutes_per_level * 60.0) + LEVEL_OVERHEAD_S


def trial_timeline(outcome: TrialOutcome, minutes_per_level: int, *, start_only: bool = False) -> TrialTimeline:
    """The report times of a trial (``start_only``: a deployment that is torn down once ready, as
    vLLM's auto_tune does when it probes the memory fraction)."""
    if outcome.status == REJECTED:
        return TrialTimeline((0.0,), 0.0)
    if outcome.status != OK or start_only:
        return TrialTimeline((outcome.startup_s,), outcome.startup_s)
    first = outcome.startup_s + GENAI_BENCH_START_S
    steps = [level_seconds(lv.duration_s, minutes_per_level) for lv in outcome.levels]
    return TrialTimeline(tuple(first + t for t in accumulate(steps)), outcome.startup_s)


__all__ = ["GENAI_BENCH_START_S", "LEVEL_OVERHEAD_S", "TrialTimeline", "level_seconds", "trial_timeline"]
