"""engine.api_key: the task names where the key comes from, never the key; the driver reads it
before anything starts; what the tuner writes shows ``***`` in its place."""

import copy
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotuner.engines.api_key import ApiKeyError, api_key_for, redact, redact_argv, scrub_file
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, TrialRecord, TrialStatus
from autotuner.task.load import parse_spec, require_valid

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-5d0e61a7"


def task(api_key: dict | None = None, **engine) -> dict:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["engine"].update(engine)
    if api_key is not None:
        data["engine"]["api_key"] = api_key
    return data


def problems_of(data: dict) -> dict[str, str]:
    _, problems = parse_spec(data)
    return {p.path: str(p) for p in problems}


OME = {"backend": "ome", "ome": {"namespace": "autotune", "base_model": "llama"}}


@pytest.mark.parametrize("api_key, engine, path, fragment", [
    ({}, {}, "engine.api_key", "either env"),
    ({"env": "K", "secret_name": "s"}, {}, "engine.api_key", "either env"),
    ({"env": "1-not-a-name"}, {}, "engine.api_key.env", "environment variable name"),
    ({"secret_name": "s"}, {}, "engine.api_key.secret_name", "for the ome backend"),
    ({"env": "K"}, OME, "engine.api_key.env", "from a Kubernetes Secret"),
    ({"secret_name": "Not_A_Name"}, OME, "engine.api_key.secret_name", "DNS-1123"),
    ({"secret_name": "s", "secret_key": "a/b"}, OME, "engine.api_key.secret_key", "letters, digits"),
])
def test_the_source_must_be_one_that_fits_the_backend(api_key, engine, path, fragment):
    msgs = problems_of(task(api_key, **copy.deepcopy(engine)))
    assert path in msgs and fragment in msgs[path], msgs


def test_the_benchmarkjob_runner_cannot_send_a_key():
    data = task({"secret_name": "s"}, **copy.deepcopy({**OME, "ome": {**OME["ome"], "benchmark_pvc": "p",
                                                                      "results_mount": "/r"}}))
    data["workload"]["runner"] = "benchmarkjob"
    msgs = problems_of(data)
    path, fragment = "engine.api_key", "own key"
    assert path in msgs and fragment in msgs[path], msgs


def test_a_key_written_into_the_task_is_refused():
    data = task()
    data["engine"]["local"]["extra_args"] = ["--api-key", KEY]
    assert "engine.api_key instead" in problems_of(data)["engine.local.extra_args"]
    data = task(**copy.deepcopy(OME))
    data["engine"]["ome"]["command_override"] = ["python3", "-m", "sglang.launch_server", f"--api-key={KEY}"]
    data["model"]["tokenizer"] = "/models/tok"
    assert "engine.api_key instead" in problems_of(data)["engine.ome.command_override"]


def test_the_task_holds_the_name_of_the_variable_not_the_key(monkeypatch):
    spec = require_valid(task({"env": "TEST_ENGINE_KEY"}))
    monkeypatch.setenv("TEST_ENGINE_KEY", KEY)
    assert api_key_for(spec) == KEY
    assert "TEST_ENGINE_KEY" in spec.to_yaml() and KEY not in spec.to_yaml()
    monkeypatch.setenv("TEST_ENGINE_KEY", " ")
    with pytest.raises(ApiKeyError, match="engine.api_key.env: the environment variable TEST_ENGINE_KEY is not set"):
        api_key_for(spec)
    assert api_key_for(require_valid(task())) is None


def test_redaction_helpers(tmp_path):
    assert redact_argv(["srv", "--api-key", KEY, f"--api-key={KEY}", "--port", "1"]) == [
        "srv", "--api-key", "***", "--api-key=***", "--port", "1"]
    assert redact(f"argv: {KEY} and {KEY}", KEY) == "argv: *** and ***" and redact("x", None) == "x"
    log = tmp_path / "engine.log"
    log.write_text(f"server_args=(api_key='{KEY}')\n")
    scrub_file(log, KEY)
    assert log.read_text() == "server_args=(api_key='***')\n"


def test_the_best_launch_command_reads_the_key_from_the_variable(tmp_path):
    best = TrialRecord("t1", {"tp_size": 1}, status=TrialStatus.DONE, gpus=1, score=1.0, feasible=True)
    answer = BestAnswer.of(best, [], launch_command=["vllm", "serve", "/models/m"], objective_unit="tok/s",
                           api_key_env="SGLANG_API_KEY")
    CampaignFolder(tmp_path).write_best(answer)
    line = (tmp_path / "best_launch_command.txt").read_text().strip()
    assert line.endswith(' --api-key "$SGLANG_API_KEY"') and answer.launch_command_line == line
    assert shlex.split(line)[-2:] == ["--api-key", "$SGLANG_API_KEY"]


def test_run_stops_before_anything_starts_when_the_variable_is_missing(tmp_path):
    data = task({"env": "TEST_ENGINE_KEY_UNSET"})
    data["output"] = str(tmp_path / "campaign")
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if k != "TEST_ENGINE_KEY_UNSET"}
    done = subprocess.run([str(Path(sys.executable).parent / "autotuner"), "run", str(tmp_path / "task.yaml")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "engine.api_key.env: the environment variable TEST_ENGINE_KEY_UNSET is not set" in done.stderr
    assert not (tmp_path / "campaign").exists()
