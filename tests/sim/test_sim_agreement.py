"""Agreement: real genai-bench against the wall-clock server vs. the virtual-time prediction.

genai-bench runs as a subprocess only (never imported here: it gevent-monkeypatches on import).
Measured on the 2-core dev box (Llama-3.1-8B on a simulated H100, D(100,100), 20+ requests per
level; two runs, measured / predicted):

    c=1  TPOT p50 6.76 / 6.75 ms (0.2%); output 141 / 146 tok/s (3-4%: genai-bench's duration
         includes its 1 s polling slack); TTFT p50 15.8-16.2 / 14.2 ms (HTTP + client CPU)
    c=8  TPOT p50 6.86-6.94 / 6.83 ms (1-2%); output 1030-1059 / 1136 tok/s (7-10%);
         TTFT p50 39-44 / 27 ms (genai-bench's single gevent client serialises the users'
         prompt sampling and SSE parsing)

Tolerances asserted: TPOT p50 within 10%, output tok/s within 15% (c=1) / 25% (c=8), TTFT p50
within 15% + 10 ms absolute slack at c=1 (TTFT is not asserted at c=8).
"""

import contextlib
import glob
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from autotuner.sim.args import SimServerArgs
from autotuner.sim.virtual import evaluate_level

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def simulator(tmp_path: Path, tokenizer_dir: Path, *flags: str) -> Iterator[str]:
    """The wall-clock simulator of Llama-3.1-8B on an H100, serving ``flags`` too; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "autotuner.sim.server", "--sim-model", "Llama-3.1-8B", "--sim-gpu", "H100",
             "--sim-startup-scale", "0", "--", "--model-path", str(tokenizer_dir), "--served-model-name", "sim-8b",
             "--port", str(port), *flags],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                try:
                    if requests.get(base + "/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, "simulator did not become ready"
                time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)


def genai_bench(tmp_path: Path, base: str, tokenizer_dir: Path, *args: str) -> dict[int, dict]:
    """Real genai-bench against ``base`` with ``args`` (scenario, concurrencies, caps): each level's
    aggregated metrics by its concurrency."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error", "ENABLE_UI": "false"}
    cmd = [sys.executable, "-m", "genai_bench.cli.cli", "benchmark",
           "--api-backend", "sglang", "--api-base", base, "--api-key", "dummy",
           "--api-model-name", "sim-8b", "--model-tokenizer", str(tokenizer_dir), "--task", "text-to-text", *args,
           "--experiment-base-dir", str(tmp_path / "exps"), "--experiment-folder-name", "run",
           "--log-dir", str(tmp_path / "logs")]
    bench = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-3000:]
    levels = {}
    for f in glob.glob(str(tmp_path / "exps" / "run" / "*_num_concurrency_*.json")):
        agg = json.loads(Path(f).read_text())["aggregated_metrics"]
        levels[agg["num_concurrency"]] = agg
    return levels


@pytest.mark.integration
def test_genai_bench_agrees_with_virtual_prediction(tmp_path, tokenizer_dir):
    with simulator(tmp_path, tokenizer_dir) as base:
        measured = genai_bench(tmp_path, base, tokenizer_dir, "--traffic-scenario", "D(100,100)",
                               "--num-concurrency", "1", "--num-concurrency", "8",
                               "--max-time-per-run", "1", "--max-requests-per-run", "20")
    assert set(measured) == {1, 8}

    report = []
    for c, agg in sorted(measured.items()):
        stats = agg["stats"]
        assert agg["num_error_requests"] == 0
        assert stats["num_output_tokens"]["mean"] == 100
        pred = evaluate_level(SimServerArgs(sim_model="Llama-3.1-8B", sim_gpu="H100"), "D(100,100)", c,
                              agg["num_completed_requests"])
        m_tpot, m_ttft, m_out = stats["tpot"]["p50"], stats["ttft"]["p50"], agg["mean_output_throughput_tokens_per_s"]
        report.append(f"c={c}: TPOT {m_tpot * 1e3:.2f}/{pred.tpot_p50_s * 1e3:.2f} ms, TTFT {m_ttft * 1e3:.1f}/"
                      f"{pred.ttft_p50_s * 1e3:.1f} ms, out {m_out:.0f}/{pred.output_tok_s:.0f} tok/s (measured/predicted)")
        assert m_tpot == pytest.approx(pred.tpot_p50_s, rel=0.10), report[-1]
        assert m_out == pytest.approx(pred.output_tok_s, rel=0.15 if c == 1 else 0.25), report[-1]
        if c == 1:
            assert abs(m_ttft - pred.ttft_p50_s) <= 0.15 * pred.ttft_p50_s + 0.010, report[-1]
    print("\n".join(report))


@pytest.mark.integration
@pytest.mark.parametrize("cache_flags", [(), ("--disable-radix-cache",)], ids=["radix-cache", "no-cache"])
def test_genai_bench_shared_prefix_agrees_with_virtual_prediction(tmp_path, tokenizer_dir, cache_flags):
    """genai-bench's --prefix-len prompts over HTTP hit the radix cache as the virtual clock's
    prompts do: TTFT p50 agrees (the virtual level starts warm; here only the first request is cold).
    One user: with more, genai-bench's single client serialises the users' prompt building, which
    for 2,200-token prompts adds tens of milliseconds to the others' TTFT on a small machine."""
    from autotuner.sim.scenario import SharedPrefix

    with simulator(tmp_path, tokenizer_dir, *cache_flags) as base:
        (agg,) = genai_bench(tmp_path, base, tokenizer_dir, "--traffic-scenario", "D(2200,20)", "--prefix-len", "2000",
                             "--num-concurrency", "1", "--max-time-per-run", "1", "--max-requests-per-run", "12").values()
        replica = requests.get(base + "/get_server_info", timeout=5).json()["replicas"][0]
    assert agg["num_error_requests"] == 0
    done = agg["num_completed_requests"]
    pred = evaluate_level(SimServerArgs(sim_model="Llama-3.1-8B", sim_gpu="H100", disable_radix_cache=bool(cache_flags)),
                          "D(2200,20)", 1, done, prefix=SharedPrefix(length=2000))
    m_ttft = agg["stats"]["ttft"]["p50"]
    report = f"TTFT p50 {m_ttft * 1e3:.1f}/{pred.ttft_p50_s * 1e3:.1f} ms (measured/predicted), " \
             f"{replica['cached_prompt_tokens']} prompt tokens from the cache"
    print(report)
    if cache_flags:
        assert replica["cached_prompt_tokens"] == 0 and pred.cached_prompt_tokens == 0
    else:  # all but the first request (the cold start) found ~2,000 tokens cached
        assert replica["cached_prompt_tokens"] >= (done - 1) * 1900, report
    assert abs(m_ttft - pred.ttft_p50_s) <= 0.20 * pred.ttft_p50_s + 0.015, report
