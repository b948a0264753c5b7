"""GenaiBenchLevels: argv building (pure) and level-by-level runs against a fake genai-bench level server."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from autotuner.bench.genai_bench import BenchmarkError, GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest

from .helpers import HERE, processes_mentioning

SECRET = "sk-test-secret-0123"


def values_of(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_shared_and_level_arguments(tmp_path, tokenizer_dir):
    bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir), max_minutes_per_level=2, api_key=SECRET,
                                                warmup_ratio=0.1), tmp_path)
    bench.connect("http://127.0.0.1:8000/v1/", "llama")

    shared = bench.shared_argv()
    level = bench.level_argv(3, LevelRequest("N(100,20)/(50,10)", 16, 48))

    assert shared[0] == "benchmark" and values_of(shared, "--api-backend") == ["sglang"]
    assert values_of(shared, "--api-key") == ["***"] and SECRET not in shared  # genai-bench records its argv
    assert bench.env()["AUTOTUNER_GENAI_BENCH_API_KEY"] == SECRET  # the level server hands it over in-process
    assert values_of(shared, "--model-tokenizer") == [str(tokenizer_dir)]
    assert values_of(shared, "--max-time-per-run") == ["2"]
    assert values_of(shared, "--warmup-ratio") == ["0.1"] and "--cooldown-ratio" not in shared
    assert values_of(level, "--api-base") == ["http://127.0.0.1:8000"]  # genai-bench adds /v1
    assert values_of(level, "--api-model-name") == ["llama"]
    assert values_of(level, "--traffic-scenario") == ["N(100,20)/(50,10)"]
    assert values_of(level, "--num-concurrency") == ["16"]
    assert values_of(level, "--max-requests-per-run") == ["48"]
    assert values_of(level, "--experiment-base-dir") == [str(tmp_path / "genai-bench")]
    assert values_of(level, "--experiment-folder-name") == ["level-3"]
    assert values_of(level, "--log-dir") == [str(tmp_path / "genai-bench" / "logs" / "level-3")]
    assert bench.settings.launcher() == [sys.executable, "-m", "autotuner.bench.genai_bench_cli"]


def test_each_trial_gets_a_fresh_folder(tmp_path):
    first = GenaiBenchLevels(GenaiBenchSettings("org/model"), tmp_path)
    second = GenaiBenchLevels(GenaiBenchSettings("org/model"), tmp_path)

    assert first.run_dir != second.run_dir and second.run_dir.name == "genai-bench-2"
    assert values_of(second.shared_argv(), "--model-tokenizer") == ["org/model"]  # a Hub id stays as is


def test_environment_is_offline_and_finds_this_package(tmp_path):
    bench = GenaiBenchLevels(GenaiBenchSettings("org/model", extra_env={"HF_HUB_OFFLINE": "0"}), tmp_path)

    env = bench.env()
    assert "AUTOTUNER_GENAI_BENCH_API_KEY" not in env  # no key: genai-bench's argv says "none"
    assert env["ENABLE_UI"] == "false" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["HF_HUB_OFFLINE"] == "0"  # the settings' extra variables win
    assert str(Path(__file__).resolve().parents[2]) in env["PYTHONPATH"].split(":")
    assert bench.stall_timeout_s == 60 + 60


@pytest.mark.parametrize("changes", [dict(max_minutes_per_level=0), dict(api_backend="tgi"), dict(warmup_ratio=1.0)])
def test_invalid_settings_are_refused(changes):
    with pytest.raises(ValueError):
        GenaiBenchSettings("org/model", **changes)


@pytest.mark.parametrize("make_folder, message", [
    (lambda tmp: tmp / "nowhere", "does not exist"),
    (lambda tmp: tmp, "has none of tokenizer.json"),
])
def test_unusable_tokenizer_folder_fails_before_starting(tmp_path, make_folder, message):
    bench = GenaiBenchLevels(GenaiBenchSettings(str(make_folder(tmp_path))), tmp_path / "out")

    with pytest.raises(BenchmarkError, match=message):
        bench.start()
    assert not bench.console_log.exists()  # nothing was started


def fake_bench(tmp_path: Path, tokenizer_dir: Path, mode: str, **options) -> GenaiBenchLevels:
    settings = GenaiBenchSettings(str(tokenizer_dir), api_key=SECRET, command=[sys.executable, str(HERE / "fake_genai_bench.py")],
                                  extra_env={"FAKE_GB_MODE": mode})
    bench = GenaiBenchLevels(settings, tmp_path, poll_interval_s=0.05, **options)
    bench.start()
    bench.connect("http://127.0.0.1:9", "m")
    return bench


def assert_cleaned_up(bench: GenaiBenchLevels) -> None:
    bench.close()
    assert processes_mentioning(str(bench.run_dir)) == []
    kept = [*bench.run_dir.glob("level-*/experiment_metadata.json"), *bench.log_dir.rglob("genai_bench.log"),
            bench.console_log]
    assert kept
    for path in kept:
        assert SECRET not in path.read_text(), path


def test_each_level_is_decided_after_the_last(tmp_path, tokenizer_dir):
    bench = fake_bench(tmp_path, tokenizer_dir, "ok")
    started = time.monotonic()

    first = bench.run_level(LevelRequest("D(10,10)", 4, 8))
    second = bench.run_level(LevelRequest("D(10,10)", 8 if first.output_tok_s < 500 else 2, 16))

    assert (first.concurrency, first.output_tok_s) == (4, 400.0)
    assert (second.concurrency, second.output_tok_s) == (8, 800.0)
    assert time.monotonic() - started < 10  # did not wait for the fake's 30 s "cleanup"
    assert "***" in (bench.run_dir / "level-1" / "experiment_metadata.json").read_text()
    assert_cleaned_up(bench)


def test_all_failed_level_is_an_error(tmp_path, tokenizer_dir):
    bench = fake_bench(tmp_path, tokenizer_dir, "all_failed")
    assert bench.run_level(LevelRequest("D(10,10)", 1, 8)).concurrency == 1

    with pytest.raises(BenchmarkError) as error:
        bench.run_level(LevelRequest("D(10,10)", 2, 8))

    assert error.value.reason == "all 7 requests failed at D(10,10) c=2 (503 x7): server down?"
    assert_cleaned_up(bench)


@pytest.mark.parametrize("mode, reason", [
    ("crash", "genai-bench level 1 exited with code 2: ValueError: boom"),
    ("tokenizer", "genai-bench could not load tokenizer"),
    ("exit0", "genai-bench ended without a result for D(10,10) c=1"),
])
def test_exit_reasons(tmp_path, tokenizer_dir, mode, reason):
    bench = fake_bench(tmp_path, tokenizer_dir, mode)

    with pytest.raises(BenchmarkError) as error:
        bench.run_level(LevelRequest("D(10,10)", 1, 8))

    assert error.value.reason.startswith(reason)
    assert SECRET not in str(error.value)
    assert_cleaned_up(bench)


def test_a_dead_level_server_is_an_error(tmp_path, tokenizer_dir):
    bench = fake_bench(tmp_path, tokenizer_dir, "die")
    bench.run_level(LevelRequest("D(10,10)", 1, 8))

    with pytest.raises(BenchmarkError, match="exited with code -9"):
        bench.run_level(LevelRequest("D(10,10)", 2, 8))
    assert_cleaned_up(bench)


def test_hung_level_times_out(tmp_path, tokenizer_dir):
    bench = fake_bench(tmp_path, tokenizer_dir, "hang", stall_timeout_s=1.0)
    started = time.monotonic()

    with pytest.raises(BenchmarkError) as error:
        bench.run_level(LevelRequest("D(10,10)", 1, 8))

    assert error.value.reason == "no result for 1s (at D(10,10) c=1): server hung?"
    assert time.monotonic() - started < 6
    assert_cleaned_up(bench)
