"""genai-bench as a level server: import once, then run each requested level in a forked child.

Run it only as a child process, never import it: ``import genai_bench`` monkeypatches sockets and
threads through gevent::

    python -m autotuner.bench.genai_bench_cli REQUEST_DIR benchmark --api-backend sglang ...
    python -m autotuner.bench.genai_bench_cli benchmark ...    # one run, as genai-bench's own CLI

The arguments after REQUEST_DIR are the part of genai-bench's command line every level shares;
each request (:mod:`autotuner.bench.level_server`) adds the level's own (server, scenario,
concurrency, request cap, folders). Each level's child appends every finished request's latencies
to the file the server names (one JSON line each, :mod:`autotuner.bench.fail_fast`), so that the
trial can end a level whose verdict is already certain. The server's API key comes in
``AUTOTUNER_GENAI_BENCH_API_KEY`` while the argv says ``--api-key ***``: it is handed to
genai-bench's authentication here, so the command line, options and metadata genai-bench logs and
writes hold only ``***``. genai-bench's Excel sheet and PNG plots are switched off: they
cost 5-8 s per call on a small machine and the tuner reads only the per-level JSON files. The
patched names are genai-bench 0.0.5's (``genai_bench/cli/cli.py``); a release that renames them
only brings the report back.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import genai_bench  # noqa: F401  (gevent's patch_all must run before the CLI module loads)
import genai_bench.cli.cli as genai_bench_cli
from genai_bench.auth.unified_factory import UnifiedAuthFactory
from genai_bench.metrics.aggregated_metrics_collector import AggregatedMetricsCollector

from autotuner.bench.genai_bench import API_KEY_ENV, SCRUBBED
from autotuner.bench.level_server import serve

_REPORT_FUNCTIONS = (
    "create_workbook",
    "plot_experiment_data_flexible",
    "plot_single_scenario_inference_speed_vs_throughput",
)


def _skip_report(*_args: object, **_kwargs: object) -> None:
    return None


def _record_requests_to(path: Path) -> None:
    """Append each request genai-bench collects to ``path`` as it finishes (genai-bench 0.0.5's
    ``AggregatedMetricsCollector.add_single_request_metrics``, where every request passes)."""
    collect = AggregatedMetricsCollector.add_single_request_metrics
    out = open(path, "a", buffering=1)  # line-buffered: the trial reads whole lines while the level runs

    def add_single_request_metrics(self: Any, metrics: Any) -> None:
        collect(self, metrics)
        out.write(json.dumps({"ttft": metrics.ttft, "tpot": metrics.tpot, "e2e": metrics.e2e_latency,
                              "output_tokens": metrics.num_output_tokens or 0,
                              "input_tokens": metrics.num_input_tokens or 0,
                              "error": bool(metrics.error_code)}) + "\n")

    AggregatedMetricsCollector.add_single_request_metrics = add_single_request_metrics


def _authenticate_with(key: str) -> None:
    """genai-bench's authentication gets ``key`` where its options say ``***`` (genai-bench 0.0.5's
    ``UnifiedAuthFactory.create_model_auth``, through which every backend's key passes)."""
    create = UnifiedAuthFactory.create_model_auth

    def create_model_auth(provider: str, **kwargs: Any) -> Any:
        if kwargs.get("api_key") == SCRUBBED:
            kwargs["api_key"] = key
        return create(provider, **kwargs)

    UnifiedAuthFactory.create_model_auth = staticmethod(create_model_auth)


def main() -> int:
    key = os.environ.pop(API_KEY_ENV, "")
    if key:
        _authenticate_with(key)
    for name in _REPORT_FUNCTIONS:
        if hasattr(genai_bench_cli, name):
            setattr(genai_bench_cli, name, _skip_report)
    if sys.argv[1:2] == ["benchmark"]:
        sys.argv[0] = "genai-bench"
        return genai_bench_cli.cli()
    folder, shared = Path(sys.argv[1]), sys.argv[2:]

    def run_level(extra: list[str], records: Path) -> int:
        _record_requests_to(records)
        sys.argv = ["genai-bench", *shared, *extra]  # recorded in experiment_metadata.json's cmd
        return genai_bench_cli.cli()

    return serve(folder, run_level)


if __name__ == "__main__":
    sys.exit(main())
