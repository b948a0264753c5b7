"""A stand-in for genai-bench's level server that writes its files the same way, in a fraction of a second.

Used as ``GenaiBenchSettings(command=[sys.executable, this_file])`` by the fast tests of
:class:`GenaiBenchLevels`: it serves levels through the real :func:`autotuner.bench.level_server.serve`
and behaves per ``FAKE_GB_MODE``:

  ok           each level's result file, written in two halves 0.3 s apart (so the reader meets a
               half-written file), then a 30 s "cleanup" the runner should not wait for
  all_failed   level 2 leaves a debug_for_run file with 503 errors and exits 1
  crash        a few log lines, then exit 2
  tokenizer    genai-bench's traceback for a tokenizer it cannot load, exit 1
  exit0        exit 0 without any result
  hang         the level never ends
  die          the server itself exits when asked for level 2

The API key is written into experiment_metadata.json and genai_bench.log, as genai-bench does.
Throughput is 100 tok/s per user, so tests can tell levels apart.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from autotuner.bench.level_server import serve  # noqa: E402

def run_level(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--traffic-scenario", required=True)
    parser.add_argument("--num-concurrency", type=int, required=True)
    parser.add_argument("--experiment-base-dir", required=True)
    parser.add_argument("--experiment-folder-name", required=True)
    parser.add_argument("--log-dir", required=True)
    args, _ = parser.parse_known_args(argv)
    mode = os.environ.get("FAKE_GB_MODE", "ok")
    number = int(args.experiment_folder_name.rsplit("-", 1)[-1])

    folder = os.path.join(args.experiment_base_dir, args.experiment_folder_name)
    os.makedirs(folder, exist_ok=True)
    os.makedirs(args.log_dir, exist_ok=True)
    with open(os.path.join(folder, "experiment_metadata.json"), "w") as f:
        json.dump({"cmd": "genai-bench benchmark --api-key " + args.api_key}, f)
    with open(os.path.join(args.log_dir, "genai_bench.log"), "w") as f:
        f.write(f"INFO - genai_bench.benchmark:benchmark - api_key: {args.api_key}\n")
    print(f"api_key: {args.api_key}", flush=True)

    if mode == "crash":
        print("Traceback (most recent call last):\nValueError: boom", flush=True)
        return 2
    if mode == "tokenizer":
        print('  File "genai_bench/cli/validation.py", line 184, in validate_tokenizer\n'
              "OSError: We couldn't connect to 'https://huggingface.co' to load the files.", flush=True)
        return 1
    if mode == "exit0":
        return 0
    if mode == "hang":
        time.sleep(3600)

    scenario, concurrency = args.traffic_scenario, args.num_concurrency
    time.sleep(0.2)
    name = scenario.replace("/", "_").replace(",", "_").replace("(", "").replace(")", "")
    if mode == "all_failed" and number == 2:
        with open(os.path.join(folder, f"debug_for_run_{name}_{concurrency}.json"), "w") as f:
            json.dump(failed_level(scenario, concurrency), f)
        print("ValueError: No values found for metric 'ttft'.", flush=True)
        return 1
    text = json.dumps(level(scenario, concurrency), indent=4)
    path = os.path.join(folder, f"{name}_text-to-text_num_concurrency_{concurrency}_time_1s.json")
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])
        f.flush()
        time.sleep(0.3)
        f.write(text[len(text) // 2:])
    time.sleep(30)
    return 0


def stats_block(value: float | None) -> dict:
    fields = ("min", "max", "mean", "stddev", "sum", "p25", "p50", "p75", "p90", "p95", "p99")
    return {k: value for k in fields}


def level(scenario: str, concurrency: int) -> dict:
    return {
        "aggregated_metrics": {
            "scenario": scenario, "num_concurrency": concurrency, "run_duration": 1.0,
            "mean_output_throughput_tokens_per_s": 100.0 * concurrency,
            "mean_input_throughput_tokens_per_s": 50.0 * concurrency,
            "requests_per_second": 2.0 * concurrency, "error_codes_frequency": {}, "error_rate": 0,
            "num_error_requests": 0, "num_completed_requests": 10, "num_requests": 10,
            "stats": {"ttft": stats_block(0.01), "tpot": stats_block(0.002),
                      "e2e_latency": stats_block(0.05), "num_input_tokens": stats_block(20.0),
                      "num_output_tokens": stats_block(10.0)},
        },
        "individual_request_metrics": [],
        "_time_unit": "s",
    }


def failed_level(scenario: str, concurrency: int) -> dict:
    data = level(scenario, concurrency)
    data["aggregated_metrics"].update(error_codes_frequency={"503": 7}, num_completed_requests=0,
                                      num_requests=0, stats={"ttft": stats_block(None)})
    data["individual_request_metrics"] = [{"error_code": 503, "ttft": None}] * 7
    return data


def main() -> int:
    folder, shared = Path(sys.argv[1]), sys.argv[2:]
    def run(extra: list[str], records: Path) -> int:
        if os.environ.get("FAKE_GB_MODE") == "die" and "level-2" in " ".join(extra):
            os.kill(os.getppid(), signal.SIGKILL)  # the server dies under the level
            time.sleep(5)
        return run_level(shared + extra)

    return serve(folder, run)


if __name__ == "__main__":
    sys.exit(main())
