"""Relative paths of a task resolve once, against the directory `autotuner run` starts in; the
campaign folder of a `--working-dir` Ray job goes to a persistent place instead."""

import json
from pathlib import Path

from autotuner.task.ray_job import JOB_CONFIG_VAR
from autotuner.task.load import require_valid
from autotuner.task.paths import OUTPUT_BASE_VAR, is_ray_temporary, output_base, resolve_task_paths

JOB_WITH_WORKING_DIR = {JOB_CONFIG_VAR: json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_3f.zip"},
                                                    "metadata": {"job_submission_id": "raysubmit_x"}})}
PKG = Path("/tmp/ray/session_2026-11-27_14-27-21_201793_31757/runtime_resources/working_dir_files/_ray_pkg_3f")


def task(**over) -> dict:
    data = {"name": "paths", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "path": "weights/llama",
                                       "tokenizer": "~/tok"},
            "engine": {"local": {"command": ["./serve.sh", "--port", "{port}"], "python": ".venv/bin/python"}},
            "search": {"space": {"max_running_requests": {"low": 8, "high": 64}}}, "output": "runs/paths"}
    data.update(over)
    return data


def test_inputs_and_output_resolve_against_the_directories_given(tmp_path, monkeypatch):
    (tmp_path / "serve.sh").write_text("#!/bin/sh\n")
    (tmp_path / "serve.sh").chmod(0o755)
    monkeypatch.chdir(tmp_path)  # validation looks for the program where it runs
    spec = resolve_task_paths(require_valid(task()), base=Path("/work/repo"), output_base=Path("/data"))
    assert spec.output == "/data/runs/paths"
    assert spec.model.path == "/work/repo/weights/llama"
    assert spec.model.tokenizer == str(Path.home() / "tok")
    assert spec.engine.local.command == ["/work/repo/serve.sh", "--port", "{port}"]
    assert spec.engine.local.python == "/work/repo/.venv/bin/python"
    # once resolved, resolving again changes nothing (a resume re-reads spec.yaml)
    assert resolve_task_paths(spec, base=Path("/elsewhere"), output_base=Path("/other")) == spec


def test_the_default_output_and_programs_on_path():
    data = task(output=None)
    data["engine"]["local"] = {"command": "engine", "python": "python3"}
    spec = resolve_task_paths(require_valid(data), base=Path("/r"), output_base=Path("/r"))
    assert spec.output == "/r/runs/paths" and spec.engine.local.python == "python3"


def test_kubeconfig_of_the_ome_backend():
    data = task()
    data["engine"] = {"backend": "ome", "ome": {"base_model": "m", "kubeconfig": "kube/config"}}
    data["model"]["tokenizer"] = "/models/tok"
    spec = resolve_task_paths(require_valid(data), base=Path("/r"), output_base=Path("/r"))
    assert spec.engine.ome.kubeconfig == "/r/kube/config" and spec.model.tokenizer == "/models/tok"


def test_output_base_of_a_working_dir_job_is_home_and_can_be_set():
    assert output_base(Path("/work/repo"), {}) == Path("/work/repo")
    assert output_base(PKG, {**JOB_WITH_WORKING_DIR, "HOME": "/home/ray"}) == Path("/home/ray")
    # a job without --working-dir runs where `ray start` ran: a folder of the user's
    job_here = {JOB_CONFIG_VAR: json.dumps({"runtime_env": {}, "metadata": {"job_submission_id": "j"}})}
    assert output_base(Path("/work/repo"), job_here) == Path("/work/repo")
    assert output_base(PKG, {**JOB_WITH_WORKING_DIR, OUTPUT_BASE_VAR: "/data/runs"}) == Path("/data/runs")


def test_ray_temporary_folders():
    assert is_ray_temporary(PKG / "runs" / "quickstart")
    assert is_ray_temporary(Path("/tmp/rayjob-x/session_latest/artifacts/2026/tune/working_dirs/t1/runs/q"))
    assert not is_ray_temporary(Path("/home/ray/runs/quickstart"))
    assert not is_ray_temporary(Path("/data/my_session_notes"))
