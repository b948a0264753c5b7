"""Real genai-bench started before its server exists (its imports overlap the engine's start-up)."""

from __future__ import annotations

import time

import pytest

from autotuner.bench.genai_bench import BenchPlan, GenaiBenchRun

from .helpers import processes_mentioning

pytestmark = pytest.mark.integration


def plan() -> BenchPlan:
    return BenchPlan(scenarios=["D(20,10)"], concurrencies=[1], max_requests_per_level=8, max_minutes_per_level=1)


def test_waits_at_the_gate_then_loads_the_server_it_is_given(tmp_path, tokenizer_dir, stub_server):
    run = GenaiBenchRun(plan(), None, None, str(tokenizer_dir), tmp_path)
    assert run.start_early()
    time.sleep(8)  # longer than genai-bench's imports: it is now waiting, with no server to load
    assert processes_mentioning(str(run.run_dir)) and not list(run.experiment_dir.glob("*.json"))

    run.connect(stub_server() + "/v1", "stub-model")
    started = time.monotonic()
    levels = list(run.levels())
    first_level_s = time.monotonic() - started

    print(f"gate opened -> level done in {first_level_s:.1f}s")
    assert [(lv.concurrency, lv.num_errors) for lv in levels] == [(1, 0)]
    assert "stub-model" in (run.experiment_dir / "experiment_metadata.json").read_text()
    assert processes_mentioning(str(run.run_dir)) == []


def test_close_stops_a_run_whose_server_never_came(tmp_path, tokenizer_dir):
    run = GenaiBenchRun(plan(), None, None, str(tokenizer_dir), tmp_path)
    assert run.start_early()
    run.close()
    assert processes_mentioning(str(run.run_dir)) == []


def test_another_launcher_cannot_start_early(tmp_path, tokenizer_dir):
    custom = BenchPlan(scenarios=["D(20,10)"], concurrencies=[1], max_requests_per_level=8, max_minutes_per_level=1,
                       command=["true"])
    assert not GenaiBenchRun(custom, None, None, str(tokenizer_dir), tmp_path).start_early()
