"""Orchestration overhead on the real path: Ray Tune + local backend + simulator + genai-bench.

Each case is a real campaign (``autotuner run`` in a child process, so every case gets a fresh
local Ray that is gone when it ends) of 1-GPU configs whose simulated engine sleeps a fixed
start-up; the trials' timestamps are then split into phases (:mod:`benchmarks.overhead_phases`).
Both settings of genai-bench's early start (``AUTOTUNER_GENAI_BENCH_EARLY_START``) run in the same
benchmark, one after the other for each slot count, so the before/after ratio comes from one run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import yaml

from autotuner.bench.genai_bench_runner import EARLY_START_ENV
from autotuner.task.load import require_valid
from autotuner.engines.subprocesses import stop_process_group
from benchmarks.ground_truth import LevelOracle, config_truth
from benchmarks.overhead_phases import NOT_OVERHEAD, PHASE_NAMES, PHASES, SlotUse, phase_seconds, read_trial_times, slot_use

# Every config has the same modelled start-up: the searched knobs do not change what is loaded
# or which CUDA graphs are captured.
FIXED = {"tp_size": 1, "max_running_requests": 64, "cuda_graph_max_bs": 64}
SPACE = {"schedule_policy": {"choices": ["fcfs", "lpm"]}, "chunked_prefill_size": {"choices": [4096, 8192]}}


@dataclass(frozen=True)
class OverheadSettings:
    slots: tuple[int, ...]
    waves: int  # trials = slots x waves (at least min_trials)
    min_trials: int
    startup_s: float  # the simulated engine start-up every trial sleeps
    concurrency: tuple[int, ...]
    requests_per_level: int
    timeout_s: float  # per campaign


@dataclass(frozen=True)
class CaseResult:
    slots: int
    early_start: bool
    wall_s: float  # the whole `autotuner run`, Ray start included
    use: SlotUse
    folder: Path


def overhead_task(settings: OverheadSettings, slots: int, output: Path) -> dict:
    """The task of one case, with the start-up scale that makes the simulator sleep ``startup_s``."""
    task = {
        "name": f"overhead-{slots}-slots",
        "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "served_name": "llama-3.1-8b"},
        "engine": {"backend": "local", "gpu": "H100", "gpus_per_node": 8, "fixed": dict(FIXED),
                   "local": {"command": "simulator", "startup_time_scale": 1.0}},
        "search": {"algorithm": "random", "early_stopping": "none", "space": SPACE},
        "workload": {"scenarios": ["D(512,128)"], "concurrency": list(settings.concurrency),
                     "requests_per_level": settings.requests_per_level, "requests_per_user": 1, "minutes_per_level": 1},
        "remeasure": {"configs": 0},
        "objective": {"slo": {"ttft_p90_s": 5.0, "tpot_p90_s": 0.2}},
        "budget": {"trials": max(settings.min_trials, slots * settings.waves), "gpus": slots},
        "seed": 1,
        "output": str(output),
    }
    spec = require_valid(task)
    modelled = config_truth(spec, LevelOracle(spec), dict(FIXED)).startup_s
    task["engine"]["local"]["startup_time_scale"] = round(settings.startup_s / modelled, 4)
    return task


def run_case(settings: OverheadSettings, slots: int, early_start: bool, work_dir: Path) -> CaseResult:
    """One real campaign, then its phase breakdown."""
    name = f"slots{slots}-{'early' if early_start else 'late'}"
    folder = work_dir / name
    task_path = work_dir / f"{name}.yaml"
    task_path.write_text(yaml.safe_dump(overhead_task(settings, slots, folder), sort_keys=False))
    # RAY_ADDRESS empty: a private local Ray, never a cluster someone runs on this machine.
    env = {**os.environ, EARLY_START_ENV: "1" if early_start else "0", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_ADDRESS": ""}
    t0 = time.monotonic()
    with open(work_dir / f"{name}.log", "wb") as log:
        campaign = subprocess.Popen([sys.executable, "-m", "autotuner.cli", "run", str(task_path)], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = campaign.wait(timeout=settings.timeout_s)
        finally:
            stop_process_group(campaign, grace_s=10)  # its Ray, engines and genai-bench, whatever happened
    wall = time.monotonic() - t0
    if code != 0:
        raise RuntimeError(f"the {name} campaign exited with {code}: see {work_dir / (name + '.log')}")
    trials = read_trial_times(folder)
    return CaseResult(slots, early_start, wall, slot_use(phase_seconds(trials, settings.startup_s, slots)), folder)


def run_overhead_benchmark(settings: OverheadSettings, work_dir: Path,
                           progress: Callable[[str], None] = print) -> list[CaseResult]:
    """Every slot count, genai-bench started late (before) then early (after)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for slots in settings.slots:
        for early in (False, True):
            progress(f"overhead: {slots} slot(s), genai-bench started {'early' if early else 'late'} ...")
            results.append(run_case(settings, slots, early, work_dir))
            r = results[-1]
            progress(f"  {r.use.trials} trials, overhead {r.use.overhead_s:.1f} s/trial, "
                     f"load share {r.use.load_share:.0%}, campaign {r.wall_s:.0f} s")
    return results


def overhead_tables(results: Sequence[CaseResult], settings: OverheadSettings) -> str:
    """Markdown: the summary per case, the before/after ratio, and the phase breakdown."""
    from benchmarks.search_report import md_table

    def label(r: CaseResult) -> str:
        return f"{r.slots} slot{'s' if r.slots > 1 else ''}, genai-bench {'early' if r.early_start else 'late'}"

    summary = md_table(
        ["case", "trials", "slot time per trial (s)", "overhead per trial (s): all", "first on its slot (worker start)",
         "reusing the slot's worker", "load share (load / held)", "useful share ((start-up + load) / held)",
         "campaign wall (s)"],
        [[label(r), str(r.use.trials), f"{r.use.mean['held']:.1f}", f"{r.use.overhead_s:.2f}",
          f"{r.use.first_overhead_s:.2f}", f"{r.use.reused_overhead_s:.2f}",
          f"{r.use.load_share:.1%}", f"{r.use.useful_share:.1%}", f"{r.wall_s:.0f}"] for r in results])
    ratios = []
    for slots in settings.slots:
        pair = {r.early_start: r for r in results if r.slots == slots}
        if len(pair) == 2:
            before, after = pair[False].use, pair[True].use
            ratios.append([f"{slots}", f"{before.overhead_s:.2f}", f"{after.overhead_s:.2f}",
                           f"{after.overhead_s / before.overhead_s:.2f}",
                           f"{before.mean['bench_start']:.2f} -> {after.mean['bench_start']:.2f}",
                           f"{before.load_share:.1%} -> {after.load_share:.1%}",
                           f"{before.useful_share:.1%} -> {after.useful_share:.1%}"])
    ratio = md_table(["slots", "overhead before (s/trial)", "after", "after / before",
                      "genai-bench start-up not hidden (s)", "load share", "useful share"], ratios)
    rows = [[PHASE_NAMES[p] + (" *" if p in NOT_OVERHEAD else ""), *(f"{r.use.mean[p]:.2f}" for r in results)]
            for p in PHASES]
    rows.append(["slot time held per trial", *(f"{r.use.mean['held']:.2f}" for r in results)])
    breakdown = md_table(["phase (mean s per trial)", *(label(r) for r in results)], rows)
    return "\n\n".join([summary, ratio, breakdown + "\n\n\\* not orchestration overhead"])


__all__ = ["CaseResult", "OverheadSettings", "overhead_tables", "overhead_task", "run_case",
           "run_overhead_benchmark"]
