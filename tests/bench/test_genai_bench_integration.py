"""Real genai-bench (the level server, as a child process) against the stub server. About a minute."""

from __future__ import annotations

import json
import time

import pytest

from autotuner.bench.fail_fast import FailFast
from autotuner.bench.genai_bench import BenchmarkError, GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult

from .helpers import processes_mentioning

pytestmark = pytest.mark.integration

SECRET = "sk-integration-secret-42"


def assert_nothing_left(bench: GenaiBenchLevels) -> None:
    bench.close()
    assert processes_mentioning(str(bench.run_dir)) == []
    kept = [*bench.run_dir.glob("level-*/experiment_metadata.json"), *bench.log_dir.rglob("*.log")]
    assert all(SECRET not in path.read_text() for path in kept if path.is_file())


def test_started_before_the_server_then_levels_decided_one_by_one(tmp_path, tokenizer_dir, stub_server):
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir), api_key=SECRET), tmp_path)
    bench.start()
    time.sleep(8)  # longer than genai-bench's imports: it now waits for its first level
    assert processes_mentioning(str(bench.run_dir)) and not list(bench.run_dir.glob("level-*"))

    bench.connect(stub_server() + "/v1", "stub-model")
    first = bench.run_level(LevelRequest("D(20,10)", 1, 8))
    asked = time.monotonic()
    second = bench.run_level(LevelRequest("D(20,10)", 2 * first.concurrency, 8))
    second_s = time.monotonic() - asked
    run_duration = json.loads(next((bench.run_dir / "level-2").glob("D20*.json")).read_text()
                              )["aggregated_metrics"]["run_duration"]

    print(f"second level: {second_s:.2f}s in all, of which genai-bench's run_duration {run_duration:.2f}s")
    assert [(lv.concurrency, lv.num_errors) for lv in (first, second)] == [(1, 0), (2, 0)]
    assert first.num_completed >= 8 and first.output_tok_s > 0 and first.mean_output_tokens == pytest.approx(10)
    # no import cost per level: the level server forked it at once
    assert second_s - run_duration < 1.5
    metadata = (bench.run_dir / "level-1" / "experiment_metadata.json").read_text()
    assert "stub-model" in metadata and "***" in metadata
    assert_nothing_left(bench)


def test_a_level_that_provably_breaks_a_p90_limit_ends_early(tmp_path, tokenizer_dir, stub_server):
    """Every request's TTFT is 300 ms against a 100 ms limit: after a handful of the 40 requests
    the level's p90 is certain, and the level ends there; the next level runs as usual."""
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir), api_key=SECRET), tmp_path)
    bench.connect(stub_server(STUB_TTFT_MS="300") + "/v1", "stub-model")
    check = FailFast((("ttft", 0.1),))
    kept = bench.run_level(LevelRequest("D(20,10)", 1, 4, "narrow", FailFast((("ttft", 1.0),))))

    def timed(request: LevelRequest) -> tuple[LevelResult, float]:
        started = time.monotonic()
        return bench.run_level(request), time.monotonic() - started

    ended, ended_s = timed(LevelRequest("D(20,10)", 2, 40, "narrow", check))
    full, full_s = timed(LevelRequest("D(20,10)", 2, 40))

    print(f"ended after {ended_s:.1f}s ({ended.num_completed} requests), full level {full_s:.1f}s")
    assert not kept.ended_early and kept.num_completed >= 4  # nothing to prove: it ran to its end
    assert ended.ended_early.startswith(f"ended after {ended.num_requests} requests: p90 TTFT at least")
    assert ended.ttft_p90_s > 0.1 and ended.num_completed < 20 and ended_s < full_s / 2
    assert ended.duration_s <= ended_s
    assert not full.ended_early and full.num_completed >= 40 and full.ttft_p90_s > 0.3
    lines = (bench.request_dir / "level-2.requests.jsonl").read_text().splitlines()
    assert len(lines) >= ended.num_requests and json.loads(lines[0])["ttft"] > 0.3
    assert_nothing_left(bench)


def test_server_failing_every_request(tmp_path, tokenizer_dir, stub_server):
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir), api_key=SECRET), tmp_path)
    bench.connect(stub_server(STUB_ERROR_RATE="1.0"), "stub-model")

    with pytest.raises(BenchmarkError, match=r"^all \d+ requests failed at D\(20,10\) c=1 \(500 x\d+\)"):
        bench.run_level(LevelRequest("D(20,10)", 1, 8))
    assert_nothing_left(bench)


def test_hung_server_hits_the_stall_watchdog(tmp_path, tokenizer_dir, stub_server):
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir), api_key=SECRET), tmp_path, stall_timeout_s=15)
    bench.connect(stub_server(STUB_HANG="1"), "stub-model")
    started = time.monotonic()

    with pytest.raises(BenchmarkError, match=r"no result for 15s \(at D\(20,10\) c=1\): server hung\?"):
        bench.run_level(LevelRequest("D(20,10)", 1, 8))
    assert time.monotonic() - started < 25
    assert_nothing_left(bench)


def test_tokenizer_genai_bench_cannot_load(tmp_path):
    bench = GenaiBenchLevels(GenaiBenchSettings("no-such-org/no-such-tokenizer", api_key=SECRET), tmp_path)
    bench.connect("http://127.0.0.1:9", "m")

    unloadable = "could not load tokenizer 'no-such-org/no-such-tokenizer': OSError"
    with pytest.raises(BenchmarkError, match=unloadable):
        bench.run_level(LevelRequest("D(20,10)", 1, 8))
    assert_nothing_left(bench)
