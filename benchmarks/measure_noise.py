"""How much one benchmark level varies when nothing changes: the figure behind the noise model.

Starts the wall-clock simulator (the ``local`` backend, as a trial does) with one config and runs
the same genai-bench level N times through the trial's own level server, then prints and writes
the coefficient of variation of throughput and of the p90 latencies::

    python -m benchmarks.measure_noise                    # 10 repeats, writes results/noise.csv
    python -m benchmarks.measure_noise --repeats 20 --concurrency 32

What it measures is the client side and the timing (genai-bench, HTTP, the request cap's poll
slack, this machine's scheduler): the simulator's own step times are deterministic. A real GPU
server adds its own jitter on top, which is why :class:`benchmarks.noise.NoiseModel` rounds up.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from autotuner.bench.genai_bench import GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.engines.base import DeployRequest
from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine
from autotuner.sim.tokenizer import default_tokenizer_dir, ensure_tokenizer

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = {"tp_size": 1, "mem_fraction_static": 0.85, "max_running_requests": 64, "chunked_prefill_size": 8192}


def measure(repeats: int, concurrency: int, scenario: str, per_user: int, work_dir: Path) -> list[LevelResult]:
    """``repeats`` identical levels against one simulated Llama-3.1-8B on H100."""
    tokenizer = ensure_tokenizer(default_tokenizer_dir())
    engine = LocalProcessEngine(LocalEngineSettings(model_path=str(tokenizer), sim_model="Llama-3.1-8B",
                                                    sim_gpu="H100", sim_startup_scale=0.0, tokenizer_path=str(tokenizer)))
    request = DeployRequest("noise", "noise", CONFIG, "llama", work_dir)
    with engine.deploy(request) as server:
        bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer)), work_dir)
        bench.connect(server.base_url, server.served_model_name)
        try:
            return [bench.run_level(LevelRequest(scenario, concurrency, concurrency * per_user)) for _ in range(repeats)]
        finally:
            bench.close()


def variation(levels: Sequence[LevelResult], name: str) -> tuple[float, float]:
    """(mean, coefficient of variation) of one metric over the repeats."""
    values = [getattr(lv, name) for lv in levels]
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) / mean


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure_noise", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scenario", default="D(256,128)")
    parser.add_argument("--requests-per-user", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "noise.csv")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="noise-") as tmp:
        levels = measure(args.repeats, args.concurrency, args.scenario, args.requests_per_user, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "mean", "cv", "repeats", "concurrency", "scenario", "mean_duration_s"])
        duration = statistics.fmean(lv.duration_s for lv in levels)
        for name in ("output_tok_s", "ttft_p90_s", "tpot_p90_s"):
            mean, cv = variation(levels, name)
            writer.writerow([name, f"{mean:.6g}", f"{cv:.4f}", len(levels), args.concurrency, args.scenario,
                             f"{duration:.1f}"])
            print(f"{name:14s} mean {mean:.4g}  cv {cv:.1%}  ({len(levels)} repeats of {duration:.1f} s at "
                  f"c={args.concurrency} {args.scenario})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
