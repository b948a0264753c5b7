"""What one load level (one traffic scenario at one concurrency) measured; what is asked is
:class:`autotuner.bench.request.LevelRequest`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class LevelResult:
    """What one genai-bench run (scenario x concurrency) measured. Latencies are in seconds.

    ``error_rate`` is recomputed from the counts (genai-bench 0.0.5 always stores 0). A level in
    which every request failed has ``all_failed=True`` and no latency numbers.
    """

    scenario: str
    concurrency: int
    num_requests: int
    num_completed: int
    num_errors: int
    error_rate: float
    duration_s: float
    output_tok_s: float  # server output throughput over the level
    input_tok_s: float
    requests_per_s: float
    ttft_p50_s: float | None = None
    ttft_p90_s: float | None = None
    ttft_p99_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p90_s: float | None = None
    tpot_p99_s: float | None = None
    e2e_p90_s: float | None = None
    mean_input_tokens: float | None = None
    mean_output_tokens: float | None = None
    error_codes: dict[str, int] = field(default_factory=dict)
    all_failed: bool = False
    ended_early: str = ""  # why the level ended before its request cap (autotuner.bench.fail_fast)
    # How far the host held the level back (autotuner.bench.host_lag); None: not measured.
    server_lag: float | None = None  # share of the level's time the simulated server fell behind its schedule
    server_late_s: float | None = None  # how late the simulated server's steps ended, on average
    client_lag_s: float | None = None  # p90 event-loop lag of the load generator (genai-bench)
    client_cpu: float | None = None  # the load generator's CPU time over the level's wall time
    distortion: str = ""  # why the host distorted this measurement beyond the tolerance ('' when it did not)
    distorted_runs: int = 0  # runs of this level the host distorted (autotuner.trial.host_distortion)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The metrics of a level that the repeats of one level average (a re-measurement's mean level).
AVERAGED_METRICS = ("output_tok_s", "input_tok_s", "requests_per_s", "error_rate", "ttft_p50_s", "ttft_p90_s",
                    "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_p90_s", "duration_s")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile of already sorted values, as genai-bench computes its
    stats; nan when empty."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)
