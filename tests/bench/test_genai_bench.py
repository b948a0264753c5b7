"""GenaiBenchRun: argv building (pure) and the sweep follower against a fake genai-bench script."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from autotuner.bench.genai_bench import BenchmarkError, BenchPlan, GenaiBenchRun

from .helpers import HERE, processes_mentioning

SECRET = "sk-test-secret-0123"


def plan(**changes) -> BenchPlan:
    fields = dict(scenarios=["D(100,100)", "N(100,20)/(50,10)"], concurrencies=[1, 4, 16],
                  max_requests_per_level=50, max_minutes_per_level=2)
    return BenchPlan(**{**fields, **changes})


def values_of(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_argv_repeats_each_scenario_and_concurrency(tmp_path, tokenizer_dir):
    run = GenaiBenchRun(plan(warmup_ratio=0.1), "http://127.0.0.1:8000/v1/", "llama", str(tokenizer_dir),
                        tmp_path, api_key=SECRET)

    argv = run.argv()

    assert argv[:4] == [sys.executable, "-m", "autotuner.bench.genai_bench_cli", "benchmark"]
    assert values_of(argv, "--traffic-scenario") == ["D(100,100)", "N(100,20)/(50,10)"]
    assert values_of(argv, "--num-concurrency") == ["1", "4", "16"]
    assert values_of(argv, "--api-base") == ["http://127.0.0.1:8000"]  # genai-bench adds /v1
    assert values_of(argv, "--api-backend") == ["sglang"]
    assert values_of(argv, "--api-key") == [SECRET]
    assert values_of(argv, "--api-model-name") == ["llama"]
    assert values_of(argv, "--model-tokenizer") == [str(tokenizer_dir)]
    assert values_of(argv, "--max-time-per-run") == ["2"]
    assert values_of(argv, "--max-requests-per-run") == ["50"]
    assert values_of(argv, "--warmup-ratio") == ["0.1"]
    assert "--cooldown-ratio" not in argv
    assert values_of(argv, "--experiment-base-dir") == [str(tmp_path / "genai-bench")]
    assert values_of(argv, "--experiment-folder-name") == ["results"]
    assert values_of(argv, "--log-dir") == [str(tmp_path / "genai-bench" / "logs")]
    assert run.experiment_dir == tmp_path / "genai-bench" / "results"


def test_each_run_gets_a_fresh_folder(tmp_path):
    first = GenaiBenchRun(plan(), "http://h:1", "m", "org/model", tmp_path)
    second = GenaiBenchRun(plan(), "http://h:1", "m", "org/model", tmp_path)

    assert first.run_dir != second.run_dir and second.run_dir.name == "genai-bench-2"
    assert values_of(second.argv(), "--model-tokenizer") == ["org/model"]  # a Hub id stays as is


def test_explicit_command_and_environment(tmp_path):
    custom = plan(command=["genai-bench"], api_backend="openai", extra_env={"HF_HUB_OFFLINE": "0"})
    run = GenaiBenchRun(custom, "http://h:1", "m", "org/model", tmp_path)

    assert run.argv()[:2] == ["genai-bench", "benchmark"]
    env = run.env()
    assert env["ENABLE_UI"] == "false" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HUB_OFFLINE"] == "0"  # the plan's extra variables win
    assert str(Path(__file__).resolve().parents[2]) in env["PYTHONPATH"].split(":")


def test_default_timeouts_follow_the_plan(tmp_path):
    run = GenaiBenchRun(plan(), "http://h:1", "m", "org/model", tmp_path)

    assert run.overall_timeout_s == 6 * (2 * 60 + 30) + 90
    assert run.stall_timeout_s == 2 * 60 + 60


@pytest.mark.parametrize("changes", [
    dict(concurrencies=[]), dict(concurrencies=[4, 4]), dict(scenarios=["D(1,1)", "D(1,1)"]),
    dict(concurrencies=[0]), dict(max_minutes_per_level=0), dict(api_backend="tgi"),
    dict(warmup_ratio=1.0),
])
def test_invalid_plans_are_refused(changes):
    with pytest.raises(ValueError):
        plan(**changes)


@pytest.mark.parametrize("make_folder, message", [
    (lambda tmp: tmp / "nowhere", "does not exist"),
    (lambda tmp: tmp, "has none of tokenizer.json"),
])
def test_unusable_tokenizer_folder_fails_before_starting(tmp_path, make_folder, message):
    run = GenaiBenchRun(plan(), "http://h:1", "m", str(make_folder(tmp_path)), tmp_path / "out")

    with pytest.raises(BenchmarkError, match=message):
        next(run.levels())
    assert not run.console_log.exists()  # nothing was started


def fake_run(tmp_path: Path, tokenizer_dir: Path, mode: str, **run_options) -> GenaiBenchRun:
    fake_plan = plan(scenarios=["D(10,10)"], concurrencies=[1, 2, 4], max_minutes_per_level=1,
                     command=[sys.executable, str(HERE / "fake_genai_bench.py")],
                     extra_env={"FAKE_GB_MODE": mode})
    return GenaiBenchRun(fake_plan, "http://127.0.0.1:9", "m", str(tokenizer_dir), tmp_path,
                         api_key=SECRET, poll_interval_s=0.05, **run_options)


def assert_cleaned_up(run: GenaiBenchRun) -> None:
    assert processes_mentioning(str(run.run_dir)) == []
    for path in [run.experiment_dir / "experiment_metadata.json", *run.log_dir.glob("*")]:
        text = path.read_text()
        assert SECRET not in text and "***" in text, path


def test_levels_arrive_in_order_despite_half_written_files(tmp_path, tokenizer_dir):
    run = fake_run(tmp_path, tokenizer_dir, "ok")
    started = time.monotonic()

    levels = [(level.concurrency, level.output_tok_s) for level in run.levels()]

    assert levels == [(1, 100.0), (2, 200.0), (4, 400.0)]
    assert time.monotonic() - started < 10  # did not wait for the fake's 30 s "cleanup"
    assert_cleaned_up(run)
    with pytest.raises(RuntimeError, match="runs once"):
        next(run.levels())


def test_consumer_stopping_early_kills_genai_bench(tmp_path, tokenizer_dir):
    run = fake_run(tmp_path, tokenizer_dir, "ok")
    levels = run.levels()

    assert next(levels).concurrency == 1
    levels.close()

    assert_cleaned_up(run)


def test_all_failed_level_is_an_error_after_the_good_ones(tmp_path, tokenizer_dir):
    run = fake_run(tmp_path, tokenizer_dir, "all_failed")
    seen = []

    with pytest.raises(BenchmarkError) as error:
        for level in run.levels():
            seen.append(level.concurrency)

    assert seen == [1]
    assert error.value.reason == "all 7 requests failed at D(10,10) c=2 (503 x7): server down?"
    assert_cleaned_up(run)


@pytest.mark.parametrize("mode, reason", [
    ("crash", "genai-bench exited with code 2: ValueError: boom"),
    ("tokenizer", "genai-bench could not load tokenizer"),
    ("exit0", "genai-bench ended without a result for D(10,10) c=1"),
])
def test_exit_reasons(tmp_path, tokenizer_dir, mode, reason):
    run = fake_run(tmp_path, tokenizer_dir, mode)

    with pytest.raises(BenchmarkError) as error:
        list(run.levels())

    assert error.value.reason.startswith(reason)
    assert SECRET not in str(error.value)
    assert_cleaned_up(run)


@pytest.mark.parametrize("timeouts, reason", [
    (dict(stall_timeout_s=1.0), "no level finished for 1s (at D(10,10) c=1): server hung?"),
    (dict(overall_timeout_s=1.0), "sweep still running after 1s (at D(10,10) c=1): killed"),
])
def test_hung_sweep_times_out(tmp_path, tokenizer_dir, timeouts, reason):
    run = fake_run(tmp_path, tokenizer_dir, "hang", **timeouts)
    started = time.monotonic()

    with pytest.raises(BenchmarkError) as error:
        list(run.levels())

    assert error.value.reason == reason
    assert time.monotonic() - started < 6
    assert_cleaned_up(run)
