"""Read genai-bench 0.0.5 result files into :class:`LevelResult` (pure functions, stdlib only).

genai-bench writes one JSON per (scenario, concurrency) level when the level ends, named
``<scenario>_<task>_num_concurrency_<N>_time_<secs>s.json`` (the seconds are measured, so the name
cannot be predicted), and ``debug_for_run_<scenario>_<N>.json`` instead when every request of the
level failed::

    >>> for path in find_level_files("runs/trial_1/genai-bench/results"):  # doctest: +SKIP
    ...     print(parse_level_file(path).output_tok_s)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from autotuner.bench.result import LevelResult

LEVEL_FILE_GLOB = "*_num_concurrency_*_time_*s.json"
FAILED_LEVEL_FILE_GLOB = "debug_for_run_*.json"
_FAILED_NAME = re.compile(r"^debug_for_run_(?P<scenario>.+)_(?P<concurrency>\d+)\.json$")
# Only these stats follow --metrics-time-unit; run_duration is always in seconds.
_MS_CONVERTED = ("ttft", "tpot", "e2e_latency", "output_latency")


def find_level_files(folder: str | Path) -> list[Path]:
    """The finished levels' result files in an experiment folder, sorted by name."""
    return sorted(Path(folder).glob(LEVEL_FILE_GLOB))


def find_failed_level_files(folder: str | Path) -> list[Path]:
    """The ``debug_for_run_*.json`` files left by levels in which every request failed."""
    return sorted(Path(folder).glob(FAILED_LEVEL_FILE_GLOB))


def parse_level_file(path: str | Path) -> LevelResult:
    """One level's metrics, latencies in seconds and ``error_rate`` recomputed from the counts.

    Raises ``ValueError`` (``json.JSONDecodeError``) on a file that is still being written.
    """
    data = _load(path)
    agg = data["aggregated_metrics"]
    stats = agg["stats"]
    to_s = 0.001 if data.get("_time_unit") == "ms" else 1.0

    def stat(metric: str, field: str) -> float | None:
        value = (stats.get(metric) or {}).get(field)
        if value is None:
            return None
        return value * to_s if metric in _MS_CONVERTED else float(value)

    num_requests = int(agg["num_requests"])
    num_errors = int(agg["num_error_requests"])
    return LevelResult(
        scenario=agg["scenario"],
        concurrency=int(agg["num_concurrency"]),
        num_requests=num_requests,
        num_completed=int(agg["num_completed_requests"]),
        num_errors=num_errors,
        # genai-bench 0.0.5 stores error_rate before it fills num_requests, so it is always 0.
        error_rate=num_errors / num_requests if num_requests else 0.0,
        duration_s=float(agg["run_duration"]),
        output_tok_s=float(agg["mean_output_throughput_tokens_per_s"]),
        input_tok_s=float(agg["mean_input_throughput_tokens_per_s"]),
        requests_per_s=float(agg["requests_per_second"]),
        ttft_p50_s=stat("ttft", "p50"),
        ttft_p90_s=stat("ttft", "p90"),
        ttft_p99_s=stat("ttft", "p99"),
        tpot_p50_s=stat("tpot", "p50"),
        tpot_p90_s=stat("tpot", "p90"),
        tpot_p99_s=stat("tpot", "p99"),
        e2e_p90_s=stat("e2e_latency", "p90"),
        mean_input_tokens=stat("num_input_tokens", "mean"),
        mean_output_tokens=stat("num_output_tokens", "mean"),
        error_codes=_error_codes(agg.get("error_codes_frequency")),
    )


def parse_failed_level(path: str | Path) -> LevelResult:
    """A level in which every request failed, from its ``debug_for_run_*.json``.

    Its aggregated counts are never filled in (genai-bench stops before that), so the counts come
    from the per-request error codes. ``error_codes_frequency`` is tallied as each request ends and
    so covers every request; the per-request list is the fallback when it is missing.
    The scenario and concurrency come from the content, else from the file name (where the
    scenario is only available in its sanitized form, e.g. ``D100_100``).
    """
    path = Path(path)
    data = _load(path)
    agg = data.get("aggregated_metrics") or {}
    requests = data.get("individual_request_metrics") or []
    codes = _error_codes(agg.get("error_codes_frequency"))
    if not codes:
        codes = dict(Counter(str(r["error_code"]) for r in requests if r.get("error_code")))
    num_completed = sum(1 for r in requests if not r.get("error_code"))
    num_errors = sum(codes.values())
    num_requests = num_errors + num_completed

    scenario, concurrency = agg.get("scenario"), agg.get("num_concurrency")
    if scenario is None or concurrency is None:
        match = _FAILED_NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path.name}: no scenario/concurrency in content or file name")
        scenario, concurrency = match["scenario"], match["concurrency"]
    return LevelResult(
        scenario=scenario,
        concurrency=int(concurrency),
        num_requests=num_requests,
        num_completed=num_completed,
        num_errors=num_errors,
        error_rate=num_errors / num_requests if num_requests else 1.0,
        duration_s=float(agg.get("run_duration") or 0.0),
        output_tok_s=0.0,
        input_tok_s=0.0,
        requests_per_s=0.0,
        error_codes=codes,
        all_failed=True,
    )


def _load(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _error_codes(frequency: dict[Any, Any] | None) -> dict[str, int]:
    # JSON object keys are strings already; int() guards against floats from other writers.
    return {str(code): int(count) for code, count in (frequency or {}).items()}
