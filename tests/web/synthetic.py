"""Synthetic campaign folders for tests and benchmarks: the same files a real campaign writes
(campaign.json, spec.yaml, trials.parquet, levels.parquet, and the lock of a driver ``pid``), with made-up
but plausible numbers::

    spec = write_synthetic_campaign(tmp_path / "big", trials=2000, status="running", pid=os.getpid())
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from autotuner.campaign.start import campaign_id
from autotuner.campaign.lock import LockOwner
from autotuner.bench.result import LevelResult
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignMeta, CampaignStatus, LevelRow, TrialRecord, TrialStatus
from autotuner.task.load import require_valid
from autotuner.task.spec import TaskSpec
from autotuner.trial.report import TrialReport

CONCURRENCY = [1, 4, 16, 32]


def synthetic_spec(folder: Path, name: str) -> TaskSpec:
    return require_valid({
        "name": name, "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
        "engine": {"local": {"command": "simulator", "startup_time_scale": 0}},
        "search": {"space": {"tp_size": {"choices": [1, 2]},
                             "mem_fraction_static": {"low": 0.6, "high": 0.92},
                             "max_running_requests": {"low": 8, "high": 256, "log": True},
                             "schedule_policy": {"choices": ["fcfs", "lpm"]}}},
        "workload": {"scenarios": ["D(128,32)"], "concurrency": CONCURRENCY},
        "objective": {"slo": {"ttft_p90_s": 0.5, "tpot_p90_s": 0.05}},
        "budget": {"trials": 100_000, "gpus": 8}, "output": str(folder)})


def synthetic_report(rng: random.Random, level: int, gpus: int, config: dict[str, Any]) -> TrialReport:
    """One level's report, as a trial makes it."""
    conc = CONCURRENCY[level - 1]
    tok = 400 * conc ** 0.7 * config["mem_fraction_static"] * rng.uniform(0.8, 1.2) / gpus ** 0.3
    ttft = 0.02 * conc ** 0.8 * rng.uniform(0.7, 1.3)
    tpot = 0.004 * conc ** 0.5 * rng.uniform(0.8, 1.2)
    meets = ttft <= 0.5 and tpot <= 0.05
    measured = LevelResult("D(128,32)", conc, num_requests=50, num_completed=50, num_errors=0, error_rate=0.0,
                           duration_s=30.0, output_tok_s=tok * gpus, input_tok_s=4 * tok * gpus, requests_per_s=1.5,
                           ttft_p90_s=ttft, tpot_p90_s=tpot, e2e_p90_s=ttft + 32 * tpot)
    return TrialReport(level=level, gpus=gpus, score=tok if meets else -1.0, feasible=meets, violation=0.0,
                       score_bound=None, boundary=(), status="running", reason="", measured=measured,
                       meets_slo=meets, time=time.time())


def synthetic_trial(rng: random.Random, trial_id: str, status: str, levels_run: int,
                    started: float) -> tuple[TrialRecord, list[LevelRow]]:
    config = {"tp_size": rng.choice([1, 2]), "mem_fraction_static": round(rng.uniform(0.6, 0.92), 3),
              "max_running_requests": rng.randint(8, 256), "schedule_policy": rng.choice(["fcfs", "lpm"])}
    gpus = config["tp_size"]
    levels = [LevelRow.from_report(trial_id, config, synthetic_report(rng, k, gpus, config))
              for k in range(1, levels_run + 1)]
    feasible = [lv.score for lv in levels if lv.meets_slo]
    rec = TrialRecord(trial_id, config, status=status, gpus=gpus, levels_run=levels_run,
                      score=max(feasible) if feasible else (-1.0 if levels else None), feasible=bool(feasible),
                      best_level=None, reason="start-up failed: out of memory" if status == TrialStatus.FAILED else "",
                      started=started, ended=None if status == TrialStatus.RUNNING else started + 30)
    return rec, levels


def write_synthetic_campaign(folder: Path, *, trials: int, running: int = 0, status: str = "running",
                             pid: int | None = None, job_id: str | None = None, name: str = "synthetic",
                             seed: int = 0) -> TaskSpec:
    """A campaign folder with ``trials`` trials, the last ``running`` of them still running; with a
    ``pid``, the folder is locked by that process on this host (alive or not)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = synthetic_spec(folder, name)
    rng = random.Random(seed)
    t0 = time.time() - trials * 5
    records, level_rows = [], []
    for i in range(trials):
        if i >= trials - running:
            status_i, levels_run = TrialStatus.RUNNING, rng.randint(1, 3)
        else:
            status_i = rng.choices([TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED], weights=[3, 6, 1])[0]
            levels_run = {TrialStatus.DONE: len(CONCURRENCY), TrialStatus.STOPPED_EARLY: rng.randint(1, 3), TrialStatus.FAILED: 0}[status_i]
        rec, levels = synthetic_trial(rng, f"{i:08x}", status_i, levels_run, t0 + i * 5)
        records.append(rec)
        level_rows += levels
    files = CampaignFolder(folder)
    files.write_spec(spec)
    files.write_meta(CampaignMeta(id=campaign_id(spec), name=name, status=CampaignStatus(status), started=t0,
                                  ray_job_id=job_id, budget_trials=spec.budget.trials, objective="goodput_per_gpu"))
    if pid:
        files.lock_path.write_text(LockOwner.this_process(job_id, pid=pid).to_json())
    files.write_levels(level_rows)
    files.write_trials(records)
    return spec
