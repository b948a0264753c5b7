"""Real genai-bench against the real simulator server: a level on a quiet host is not marked; one
whose server the host starves (the simulator blocked after each step, ``--sim-host-stall``, as a
process without CPU is) is marked, run again and refused. About 30 s."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from autotuner.bench.genai_bench import GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.host_lag import SERVER_LAG_TOLERANCE
from autotuner.bench.request import LevelRequest
from autotuner.trial.host_distortion import MAX_RUNS, measure, refused

from .helpers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REQUEST = LevelRequest("D(64,24)", 4, 16)
BUSY_PRESSURE = 0.5  # some task waited for a CPU half of the time: not a quiet machine


@pytest.fixture
def sim_server(tokenizer_dir: Path) -> Iterator[Callable[..., str]]:
    """Factory: ``sim_server("--sim-host-stall", "0.03")`` starts the simulator, returns its root URL."""
    started: list[subprocess.Popen] = []

    def start(*sim_options: str) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "autotuner.sim.server", "--sim-model", "Llama-3.1-8B",
                                 "--sim-startup-scale", "0", *sim_options, "--", "--model-path", str(tokenizer_dir),
                                 "--served-model-name", "sim", "--port", str(port)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return base
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the simulator did not get ready within 60 s")

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def lag_counters(base: str) -> dict:
    with urllib.request.urlopen(base + "/sim/lag", timeout=5) as resp:
        return json.loads(resp.read())


def cpu_pressure() -> float:
    """The share of the last 10 s in which some task waited for a CPU (Linux PSI; 0 without it)."""
    try:
        fields = Path("/proc/pressure/cpu").read_text().split("\n")[0].split()[1:]
    except OSError:
        return 0.0
    return float(dict(field.split("=") for field in fields)["avg10"]) / 100


def test_a_level_on_a_quiet_host_is_measured_and_not_marked(tmp_path, tokenizer_dir, sim_server):
    """Nothing stalls the simulator on purpose. The server's side stays unmarked even on a busy
    machine (it sleeps most of the time, and the kernel wakes sleepers first); genai-bench's side
    is unmarked unless the kernel says the machine was short of CPU meanwhile (a shared CI box
    where others run too): then its mark is what this measures, and the test says so."""
    base = sim_server()
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir)), tmp_path)
    bench.connect(base, "sim", simulated=True)
    pressure = cpu_pressure()
    try:
        level = measure(bench.run_level, REQUEST)
    finally:
        bench.close()
    pressure = max(pressure, cpu_pressure())
    print(f"quiet: server_lag {level.server_lag:.4f} first tokens late {level.server_late_s * 1000:.1f} ms, "
          f"genai-bench lag p90 {level.client_lag_s * 1000:.1f} ms cpu {level.client_cpu:.2f}, "
          f"ttft90 {level.ttft_p90_s * 1000:.0f} ms; CPU pressure {pressure:.0%}: {level.distortion or 'not marked'}")
    assert level.num_completed >= REQUEST.max_requests and level.output_tok_s > 0
    # every measure was taken (the simulator's counters, genai-bench's level process)
    assert None not in (level.server_lag, level.server_late_s, level.client_lag_s, level.client_cpu)
    assert 0 < level.client_cpu < 1.5 and level.client_lag_s >= 0
    assert lag_counters(base)["first_tokens"] >= REQUEST.max_requests
    assert "the server" not in level.distortion
    if pressure < BUSY_PRESSURE:  # else other processes held genai-bench back: its side may be marked
        assert level.distortion == "" and level.distorted_runs == 0 and not refused(level)


def test_a_starved_server_is_marked_run_again_and_refused(tmp_path, tokenizer_dir, sim_server):
    base = sim_server("--sim-host-stall", "0.03")  # each ~8 ms step is followed by 30 ms without the CPU
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir)), tmp_path)
    bench.connect(base, "sim", simulated=True)
    ran: list = []

    def run(request: LevelRequest):
        ran.append(bench.run_level(request))
        return ran[-1]

    try:
        level = measure(run, REQUEST)
    finally:
        bench.close()
    print("starved: " + "; ".join(f"server_lag {lv.server_lag:.3f}, first tokens late {lv.server_late_s * 1000:.0f} ms"
                                  for lv in ran))
    assert len(ran) == MAX_RUNS and all(lv.distortion for lv in ran)
    assert refused(level) and level == dataclasses.replace(ran[-1], distorted_runs=MAX_RUNS)
    assert all(lv.server_lag > SERVER_LAG_TOLERANCE for lv in ran)
    assert "the server fell" in level.distortion and "behind its schedule (tolerance 5%)" in level.distortion
    assert lag_counters(base)["lag_s"] > 0.5
