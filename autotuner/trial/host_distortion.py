"""What a trial does with a level the host distorted: it runs it again, then refuses it.

A level is distorted when the machine held back the server or the load generator beyond the
tolerance stated in :mod:`autotuner.bench.host_lag` (the simulated server more than 5% behind its
modelled schedule, tokens written or read later than 5% of the level's p90 TTFT, or genai-bench's
CPU busy over 90% of the level). Such a measurement says more about the machine than about the
config, so it is never scored as it is. The policy:

* a distorted level runs again, at the same load, up to ``MAX_RUNS`` (3) runs in all: a burst of
  load on the machine (another trial starting, a build, a test suite) is often over by then, and a
  level costs seconds to a minute;
* the first undistorted run is the level's result, and ``distorted_runs`` on it says how many runs
  before it were set aside;
* when every run is distorted, the level is refused: it is reported with its distortion and
  ``distorted_runs == MAX_RUNS``, but not scored (neither a pass nor a fail): the trial ends there
  as failed, with the reason, its score resting on its undistorted levels; the load search cannot
  go on without knowing which side of the SLO that load lies.

That is ``workload.host_distortion: refuse``. The default, ``mark``, runs a distorted level once
and scores it, marked as distorted: on a small machine the campaign's own parallel trials starve
the load generator (the quickstart's 4 simulated trials on 2 cores: genai-bench's p90 event-loop
lag 15-150 ms against a 10-15 ms tolerance, every level), and refusing would leave no answer at
all; the answer then comes with a warning that names the distorted levels. The campaign's output
says which levels the host distorted and what was done, whichever the policy: the progress line,
levels.parquet (``distortion``, ``distorted_runs`` and the lag numbers), best_config.json
(``host_distorted``), the report and the web app's task page. Pure: the runs come from a callable::

    level = measure(runner.run_level, request)
    if refused(level):
        ...  # end the trial with refusal_reason(level, k)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult

MAX_RUNS = 3  # runs of one level, the first one included, before a distorted level is refused


def measure(run: Callable[[LevelRequest], LevelResult], request: LevelRequest, max_runs: int = MAX_RUNS) -> LevelResult:
    """The level's first undistorted run, else its last run (refused), with ``distorted_runs``."""
    distorted = 0
    while True:
        level = run(request)
        if level.distortion:
            distorted += 1
        if not level.distortion or distorted >= max_runs:
            return dataclasses.replace(level, distorted_runs=distorted)


REFUSE, MARK = "refuse", "mark"  # workload.host_distortion


def runs_for(policy: str) -> int:
    """How many runs a level may take under ``policy``."""
    return MAX_RUNS if policy == REFUSE else 1


def refused(level: LevelResult, policy: str = REFUSE) -> bool:
    """Whether the level must not be scored: under ``refuse``, it stayed distorted in every run."""
    return policy == REFUSE and bool(level.distortion)


def unscored(level: LevelResult) -> bool:
    """Whether a recorded level was refused: distorted in each of its ``MAX_RUNS`` runs (a level
    marked under ``mark`` ran once and was scored)."""
    return bool(level.distortion) and level.distorted_runs >= MAX_RUNS


def refusal_reason(level: LevelResult, number: int) -> str:
    """Why a trial ended at a refused level (its ``number``, 1-based), in one line."""
    return (f"host distorted level {number} ({level.scenario} c={level.concurrency}) in all {level.distorted_runs} "
            f"runs: {level.distortion}; refused, not scored")


def distortion_note(level: LevelResult, policy: str = REFUSE) -> str:
    """What the host did to a level and what was done, for the progress line ('' when nothing)."""
    if level.distortion and policy == MARK:
        return "host distorted: scored, marked"
    if refused(level, policy):
        return f"host distorted all {level.distorted_runs} runs: refused"
    if level.distorted_runs:
        return f"host distorted {level.distorted_runs} run(s) before this one: run again"
    return ""


__all__ = ["MARK", "MAX_RUNS", "REFUSE", "distortion_note", "measure", "refusal_reason", "refused", "runs_for", "unscored"]
