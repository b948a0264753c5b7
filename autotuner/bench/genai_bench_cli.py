"""genai-bench's own CLI without the Excel sheet and PNG plots it renders at the end.

The report costs 5-8 s per call on a small machine and the tuner only reads the per-level JSON
files (and ``experiment_metadata.json``), which are still written. Run it only as a child process,
never import it: ``import genai_bench`` monkeypatches sockets and threads through gevent::

    python -m autotuner.bench.genai_bench_cli benchmark --api-backend sglang ...

The patched names are those of genai-bench 0.0.5 (``genai_bench/cli/cli.py``); a release that
renames them only brings the report back, it breaks nothing.

With ``AUTOTUNER_GENAI_BENCH_GATE`` set, the wrapper waits after its imports until the trial opens
the gate with the server's URL (:mod:`autotuner.bench.gate`): genai-bench's start-up then overlaps
the engine's.
"""

import os
import sys
from pathlib import Path

import genai_bench  # noqa: F401  (gevent's patch_all must run before the CLI module loads)
import genai_bench.cli.cli as genai_bench_cli

from autotuner.bench.gate import GATE_ENV, gated_argv, wait_for_gate

_REPORT_FUNCTIONS = (
    "create_workbook",
    "plot_experiment_data_flexible",
    "plot_single_scenario_inference_speed_vs_throughput",
)


def _skip_report(*_args: object, **_kwargs: object) -> None:
    return None


def main() -> int:
    """Run genai-bench's click CLI with the report functions replaced by no-ops."""
    for name in _REPORT_FUNCTIONS:
        if hasattr(genai_bench_cli, name):
            setattr(genai_bench_cli, name, _skip_report)
    gate = os.environ.get(GATE_ENV)
    if gate:
        sys.argv = gated_argv(sys.argv, wait_for_gate(Path(gate)))
    sys.argv[0] = "genai-bench"  # genai-bench records argv[0] in experiment_metadata.json's cmd
    return genai_bench_cli.cli()


if __name__ == "__main__":
    sys.exit(main())
