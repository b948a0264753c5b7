"""Real genai-bench (as a child process) against the stub server. About 1 minute in all."""

from __future__ import annotations

import time

import pytest

from autotuner.bench.genai_bench import BenchmarkError, BenchPlan, GenaiBenchRun

from .helpers import processes_mentioning

pytestmark = pytest.mark.integration

SECRET = "sk-integration-secret-42"


def small_plan(concurrencies: list[int]) -> BenchPlan:
    return BenchPlan(scenarios=["D(20,10)"], concurrencies=concurrencies,
                     max_requests_per_level=8, max_minutes_per_level=1)


def assert_nothing_left(run: GenaiBenchRun) -> None:
    assert processes_mentioning(str(run.run_dir)) == []
    kept = [run.experiment_dir / "experiment_metadata.json", *run.log_dir.glob("*")]
    assert all(SECRET not in path.read_text() for path in kept if path.exists())


def test_levels_arrive_one_by_one(tmp_path, tokenizer_dir, stub_server):
    base_url = stub_server()
    run = GenaiBenchRun(small_plan([1, 2]), base_url, "stub-model", str(tokenizer_dir), tmp_path,
                        api_key=SECRET)
    started = time.monotonic()
    arrivals = []

    for level in run.levels():
        arrivals.append((level, time.monotonic() - started))

    wall_s = time.monotonic() - started
    print(f"genai-bench sweep of 2 levels: {wall_s:.1f}s, arrivals {[round(t, 1) for _, t in arrivals]}")
    assert [(lv.scenario, lv.concurrency) for lv, _ in arrivals] == [("D(20,10)", 1), ("D(20,10)", 2)]
    for level, _ in arrivals:
        assert level.num_errors == 0 and level.num_completed >= 8
        assert level.output_tok_s > 0 and level.ttft_p90_s > 0.005
        assert level.mean_output_tokens == pytest.approx(10)
    assert arrivals[1][1] - arrivals[0][1] >= 1.0  # the second level came later, on its own
    assert (run.experiment_dir / "experiment_metadata.json").is_file()
    assert "***" in (run.experiment_dir / "experiment_metadata.json").read_text()
    assert "***" in (run.log_dir / "genai_bench.log").read_text()
    assert_nothing_left(run)


def test_server_failing_every_request(tmp_path, tokenizer_dir, stub_server):
    base_url = stub_server(STUB_ERROR_RATE="1.0")
    run = GenaiBenchRun(small_plan([1, 2]), base_url, "stub-model", str(tokenizer_dir), tmp_path,
                        api_key=SECRET)

    with pytest.raises(BenchmarkError, match=r"^all \d+ requests failed at D\(20,10\) c=1 \(500 x\d+\)"):
        list(run.levels())

    assert_nothing_left(run)


def test_hung_server_hits_the_stall_watchdog(tmp_path, tokenizer_dir, stub_server):
    base_url = stub_server(STUB_HANG="1")
    run = GenaiBenchRun(small_plan([1]), base_url, "stub-model", str(tokenizer_dir), tmp_path,
                        api_key=SECRET, stall_timeout_s=15)
    started = time.monotonic()

    stalled = r"no level finished for 15s \(at D\(20,10\) c=1\): server hung\?"
    with pytest.raises(BenchmarkError, match=stalled):
        list(run.levels())

    assert time.monotonic() - started < 25
    assert_nothing_left(run)


def test_tokenizer_genai_bench_cannot_load(tmp_path):
    run = GenaiBenchRun(small_plan([1]), "http://127.0.0.1:9", "m", "no-such-org/no-such-tokenizer",
                        tmp_path, api_key=SECRET)

    unloadable = "could not load tokenizer 'no-such-org/no-such-tokenizer': OSError"
    with pytest.raises(BenchmarkError, match=unloadable):
        list(run.levels())

    assert_nothing_left(run)
