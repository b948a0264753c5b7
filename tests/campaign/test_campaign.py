"""End to end: a small campaign with real Ray Tune, real genai-bench and the simulated engine."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus
from autotuner.task.load import require_valid
from tests.conftest import REPO

pytestmark = pytest.mark.integration

STARTUP_FAIL = {"tp_size": 1, "mem_fraction_static": 0.99, "max_running_requests": 16}  # no memory left for activations
TOO_BIG = {"tp_size": 8, "mem_fraction_static": 0.8, "max_running_requests": 16}  # more GPUs than slots
GOOD = {"tp_size": 1, "mem_fraction_static": 0.85, "max_running_requests": 32}


def small_task(tmp_path, trials=4, **over) -> dict:
    task = {
        "name": "itest",
        "model": {"name": "meta-llama/Llama-3.2-1B-Instruct"},
        "engine": {"gpu": "H100", "local": {"command": "simulator", "startup_time_scale": 0}},
        "search": {"space": {"tp_size": {"choices": [1, 2, 8]},
                             "mem_fraction_static": {"low": 0.1, "high": 0.99},
                             "max_running_requests": {"low": 8, "high": 64}},
                   "initial_configs": [GOOD, STARTUP_FAIL, TOO_BIG]},
        "workload": {"scenarios": ["D(64,16)"], "load": {"min": 1, "max": 16, "start": 2, "resolution": 0.5},
                     "requests_per_level": 8},
        "remeasure": {"configs": 1, "repeats": 2},
        "objective": {"slo": {"ttft_p90_s": 2.0, "tpot_p90_s": 0.2}},
        "budget": {"trials": trials, "gpus": 4},
        "seed": 1,
        "output": str(tmp_path / "campaign"),
    }
    task.update(over)
    return task


def leftover_processes(root) -> list[str]:
    """Engine and genai-bench processes of the campaign under ``root`` still alive (found by the
    files they hold open or run in: other campaigns on the machine do not count)."""
    root = str(root)
    out = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        if p.pid == os.getpid():
            continue
        try:
            paths = [p.info["cwd"] or ""] + [f.path for f in p.open_files()]
        except (psutil.Error, OSError):
            continue
        if any(path.startswith(root) for path in paths):
            out.append(" ".join(p.info["cmdline"] or []))
    return out


def test_small_campaign_end_to_end(ray_cluster, tmp_path):
    from autotuner.campaign.driver import run_campaign

    spec = require_valid(small_task(tmp_path))
    result = run_campaign(spec)
    meta, trials, levels = CampaignFolder(result.folder).load()
    by_cfg = {(t.config["tp_size"], round(t.config["mem_fraction_static"], 2)): t for t in trials
              if t.phase == "search"}

    searched = [t for t in trials if t.phase == "search"]
    assert meta.status == "finished" and len(searched) == 4
    assert all(t.actor_id for t in trials)  # each trial's actor, for its page in the dashboard
    good = by_cfg[(1, 0.85)]
    assert good.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY) and good.feasible, (good.status, good.reason)
    failed = by_cfg[(1, 0.99)]
    assert failed.status == TrialStatus.FAILED and "start-up failed" in failed.reason and not failed.feasible
    rejected = by_cfg[(8, 0.8)]
    assert rejected.status == TrialStatus.REJECTED and "GPU slots" in rejected.reason
    # every level of every measured trial is in the table, with real genai-bench numbers
    good_levels = [r for r in levels if r.trial_id == good.trial_id]
    # its load search started at the twin's predicted boundary load (the task's maximum, 16), not at load.start
    assert good_levels[0].load_note.startswith("start at the twin's predicted boundary load")
    assert good_levels[0].concurrency > 2
    assert good_levels[0].output_tok_s > 0
    assert good.boundary  # its load search located its SLO boundary
    best = json.loads((result.folder / "best_config.json").read_text())
    assert best["launch_command"][:3] == ["python", "-m", "sglang.launch_server"]
    # the answer was measured again: repeats at the boundary load (twice or three times as many where
    # they disagreed), with their spread and provenance
    [again] = [t for t in trials if t.phase == "remeasure"]
    assert again.remeasured_repeats in (2, 4, 6) and best["remeasured"]["repeats"] == again.remeasured_repeats
    assert best["remeasured"]["min"] <= best["score"] <= best["remeasured"]["max"]
    assert best["provenance"]["engine"]["simulated"] and best["provenance"]["gpu"] == "H100"
    comment, command = (result.folder / "best_launch_command.txt").read_text().splitlines()
    assert comment.startswith("# found on the simulator") and command == best["launch_command_line"]
    assert (result.folder / "trials" / failed.trial_id / "engine.log").exists()
    assert leftover_processes(tmp_path) == []


def test_relative_paths_resolve_against_the_directory_the_user_ran_from(ray_cluster, tmp_path, monkeypatch,
                                                                       tokenizer_dir):
    """As in the examples: a relative output (and tokenizer), run from the task's folder. Ray Tune
    moves each trial into a working directory of its own; the trial folders must still land in
    the campaign folder the user named."""
    import shutil

    from autotuner.campaign.driver import run_campaign_file

    shutil.copytree(tokenizer_dir, tmp_path / "tok")
    task = small_task(tmp_path, trials=2, output="runs/itest")
    task["model"]["tokenizer"] = "tok"
    task["search"]["initial_configs"] = [GOOD, TOO_BIG]
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    monkeypatch.chdir(tmp_path)
    result = run_campaign_file("task.yaml")
    folder = tmp_path / "runs" / "itest"
    assert result.folder == folder
    _, trials, _ = CampaignFolder(folder).load()
    assert [t.phase for t in trials].count("search") == 2
    for trial in trials:
        assert (folder / "trials" / trial.trial_id / "timing.json").exists(), trial.trial_id
    measured = next(t for t in trials if t.status != TrialStatus.REJECTED)
    assert (folder / "trials" / measured.trial_id / "engine.log").exists()
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    assert spec["output"] == str(folder) and spec["model"]["tokenizer"] == str(tmp_path / "tok")


def test_ctrl_c_then_resume_does_not_repeat_finished_trials_and_a_second_driver_is_refused(tmp_path):
    """Ctrl-C on `autotuner run` stops the campaign gracefully; --resume goes on. While it runs, a
    second `autotuner run` of the same folder is refused. (`ray job stop` is in test_ray_job.py.)"""
    task = small_task(tmp_path, trials=5)
    task["search"]["initial_configs"] = [GOOD]
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    cli = [sys.executable, "-m", "autotuner.cli", "run", str(task_file)]
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines = []
    deadline = time.time() + 240
    for line in proc.stdout:
        lines.append(line)
        if " done: " in line or "stopped early" in line or time.time() > deadline:
            break
    second = subprocess.run(cli + ["--resume"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert second.returncode == 1 and f"in use by another autotuner run (pid {proc.pid} " in second.stderr, (
        second.stdout[-2000:] + second.stderr[-2000:])
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    lines.append(out)
    folder = tmp_path / "campaign"
    meta, trials, _ = CampaignFolder(folder).load()
    finished_before = {t.trial_id for t in trials if t.status in (TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED, TrialStatus.REJECTED)}
    assert finished_before, "".join(lines)
    assert meta.status == "stopped" and meta.stop_signal == "SIGINT", "".join(lines)
    assert proc.returncode == 3 and "--resume" in "".join(lines)
    first_start = meta.started
    assert not (folder / "campaign.lock").exists()

    resumed = subprocess.run(cli + ["--resume"], capture_output=True, text=True, env=env, cwd=REPO, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    meta, trials, levels = CampaignFolder(folder).load()
    assert meta.status == "finished" and sum(t.phase == "search" for t in trials) == 5
    # the campaign's start is kept (time axes start there); each run is listed
    assert meta.started == first_start and [r.resume for r in meta.runs] == [False, True]
    assert meta.runs[1].started > first_start
    # finished trials were not run again: each has exactly its own levels, once
    for tid in finished_before:
        rows = [r.level for r in levels if r.trial_id == tid]
        assert rows == sorted(set(rows))
    for tid in finished_before:
        assert f"trial {tid} deploying" not in resumed.stdout
    # the progress line counts on from the trials that ended before the stop, to 5/5, and the
    # re-measurement knows the search's best (issue 25 item 11)
    progress = [line.split("progress: ")[1] for line in resumed.stdout.splitlines() if "progress: " in line]
    assert progress and int(progress[0].split("/")[0]) > len(finished_before), progress
    assert progress[-1].startswith("5/5 trials ended, 1 re-measured") and "no feasible trial yet" not in progress[-1]
    assert leftover_processes(tmp_path) == []
