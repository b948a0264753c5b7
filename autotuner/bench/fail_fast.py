"""Ending a level as soon as its requests prove that it breaks a p90 latency SLO.

Once the load search has a passing level of a scenario, a level above it that breaks the SLOs
serves only to say so: the trial's bound then rests on the passing level's throughput
(:mod:`autotuner.trial.objective`), not on the failing one's. Such a level may end as soon as the requests
it has finished prove the verdict its full run would give. The p90 of a level's ``N`` requests is at
least its ``N - floor(0.9 (N - 1))``-th largest value (numpy's percentile, which genai-bench uses,
interpolates between neighbours; every method does at least that), so once that many finished
requests exceed the limit, the full level's p90 does too, whatever the rest measure. ``N`` is not
known before the level ends: genai-bench checks its request cap once a second (0.0.5,
``genai_bench/cli/utils.py``), so a level ends with at most the cap plus what its users finish in
that second and the requests then in flight, :func:`most_requests`. The genai-bench runner reads
the requests as its level's child reports them (:mod:`autotuner.bench.genai_bench_cli`); the OME
BenchmarkJob runner runs every level to its end. Pure functions, no I/O::

    check = FailFast((("ttft", 1.5),))
    check.verdict(records, max_requests=64, concurrency=6)   # {"ttft": 1.62} once 8 records are over 1.5 s
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from autotuner.bench.result import LevelResult, percentile

# The per-request metrics a p90 SLO can name, as genai-bench's per-request records call them, and
# the LevelResult field of their p90.
P90_FIELDS = {"ttft": "ttft_p90_s", "tpot": "tpot_p90_s"}
CAP_POLL_S = 1.0  # genai-bench 0.0.5 checks --max-requests-per-run once a second


@dataclass(frozen=True)
class RequestRecord:
    """One finished request of a running level (seconds; ``error``: it failed, no latencies)."""

    ttft: float | None = None
    tpot: float | None = None
    e2e: float | None = None
    output_tokens: int = 0
    input_tokens: int = 0
    error: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RequestRecord:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})  # type: ignore[arg-type]


def most_requests(max_requests: int, concurrency: int, records: Sequence[RequestRecord]) -> int:
    """The most requests the level can end with: the cap, what ``concurrency`` users can finish in
    one more poll of the cap (each at most one more than the poll interval holds requests as fast
    as the fastest seen), and one in flight each.

    >>> most_requests(64, 6, [RequestRecord(e2e=10.0)])
    76
    """
    fastest = min((r.e2e for r in records if r.e2e), default=None)
    in_poll = 1 if fastest is None else math.floor(CAP_POLL_S / fastest) + 1
    return max_requests + concurrency * (in_poll + 1)


def over_needed(total: int) -> int:
    """How many of ``total`` values above a limit prove their p90 above it.

    >>> over_needed(64), over_needed(76)
    (8, 9)
    """
    return total - math.floor(0.9 * (total - 1))


@dataclass(frozen=True)
class FailFast:
    """The p90 limits (metric, seconds) whose proven breach ends a level."""

    limits: tuple[tuple[str, float], ...]

    def verdict(self, records: Sequence[RequestRecord], max_requests: int, concurrency: int) -> dict[str, float]:
        """For each limit the finished ``records`` prove broken, the least the level's p90 can be
        (above the limit); {} while none is proven.

        >>> FailFast((("ttft", 1.0),)).verdict([RequestRecord(ttft=2.0, e2e=9.0)] * 8, 16, 2)
        {'ttft': 2.0}
        """
        total = most_requests(max_requests, concurrency, records)
        need = over_needed(total)
        proven: dict[str, float] = {}
        for metric, limit in self.limits:
            over = sorted((v for r in records if not r.error and (v := getattr(r, metric)) is not None and v > limit),
                          reverse=True)
            if len(over) >= need:
                proven[metric] = over[need - 1]
        return proven


def ended_level(scenario: str, concurrency: int, records: Sequence[RequestRecord], elapsed_s: float,
                proven: Mapping[str, float]) -> LevelResult:
    """The result of a level ended early: counts and rates over its finished requests, and for
    each proven metric its p90 as the least the full level would have measured (``proven``), which
    breaks the limit as the full level's would. Its throughput covers part of a level only: the
    objective never bounds a trial by it."""
    done = [r for r in records if not r.error]
    elapsed = max(elapsed_s, 1e-9)
    errors = len(records) - len(done)
    note = ", ".join(f"p90 {metric.upper()} at least {value * 1000:.4g} ms" for metric, value in proven.items())
    level = LevelResult(
        scenario=scenario, concurrency=concurrency, num_requests=len(records),
        num_completed=len(done), num_errors=errors, error_rate=errors / max(len(records), 1), duration_s=elapsed_s,
        output_tok_s=sum(r.output_tokens for r in done) / elapsed, input_tok_s=sum(r.input_tokens for r in done) / elapsed,
        requests_per_s=len(done) / elapsed,
        ttft_p90_s=_p90([r.ttft for r in done]), tpot_p90_s=_p90([r.tpot for r in done]),
        e2e_p90_s=_p90([r.e2e for r in done]),
        mean_input_tokens=sum(r.input_tokens for r in done) / len(done) if done else None,
        mean_output_tokens=sum(r.output_tokens for r in done) / len(done) if done else None,
        ended_early=f"ended after {len(records)} requests: {note}")
    return replace(level, **{P90_FIELDS[metric]: value for metric, value in proven.items()})


def _p90(values: Sequence[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return percentile(known, 90) if known else None


__all__ = ["FailFast", "P90_FIELDS", "RequestRecord", "ended_level", "most_requests", "over_needed"]
