"""One load level (one traffic scenario at one concurrency): what is asked, and what it measured."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from autotuner.bench.fail_fast import FailFast


@dataclass(frozen=True)
class LevelRequest:
    """One level to run: a scenario at a concurrency, with its request cap."""

    scenario: str
    concurrency: int
    max_requests: int
    note: str = ""  # why this load: "start", "grow", "narrow 16-32", "repeat 2/3"
    fail_fast: FailFast | None = None  # end the level once it provably breaks these p90 limits


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
