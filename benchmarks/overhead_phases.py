"""Where a real campaign's slot time went, from the timestamps its trials left behind.

Each trial writes ``trials/<id>/timing.json`` (:class:`trainables.phase_clock.PhaseClock`) and
genai-bench writes one result file per level, when the level ends, with the level's
``run_duration``. Together they split each trial's time on its GPU slot into phases::

    previous trial on the slot released it (or this worker process started, for a slot's first trial)
      ray        Ray: actor exit, Tune scheduling, new worker process, imports, deserialising
      setup      trial setup before the engine is launched (incl. spawning genai-bench early)
      engine     engine start-up: the modelled start-up the simulator sleeps ...
      engine+    ... and the engine process's own start and readiness polling
      to_step    Tune: from the actor being ready to the first training step
      bench_start  genai-bench start-up: from the first step to the first level's load
      load       under load: genai-bench's run_duration of every level
      gaps       between levels: genai-bench's pause, result file written, next level ramp
      stop       last level's end -> result file seen -> report -> Tune's stop -> cleanup called
      teardown   genai-bench and engine process groups stopped
    the slot is free again
"""

from __future__ import annotations

import math

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from autotuner.bench.parse import find_level_files, parse_level_file
from autotuner.results.folder import CampaignFolder

PHASES = ("ray", "setup", "engine", "engine+", "to_step", "bench_start", "load", "gaps", "stop", "teardown")
PHASE_NAMES = {
    "ray": "Ray: actor exit, scheduling, worker start",
    "setup": "trial setup before the engine launch",
    "engine": "engine start-up (modelled, slept by the simulator)",
    "engine+": "engine process start + readiness polling",
    "to_step": "Tune: actor ready -> first step",
    "bench_start": "genai-bench start-up (not hidden)",
    "load": "under load (genai-bench run_duration)",
    "gaps": "between levels (genai-bench pause, file, ramp)",
    "stop": "last level -> report -> stop -> cleanup",
    "teardown": "teardown (genai-bench + engine stopped)",
}
# Not orchestration: what the slot is for, and what the engine itself costs.
NOT_OVERHEAD = ("engine", "load")


@dataclass(frozen=True)
class TrialTimes:
    """One trial's wall-clock marks (``time.time()`` seconds)."""

    trial_id: str
    slot: str | None  # the GPU ids it ran on; None for simulated slots (Ray gives them no ids)
    process_started: float
    setup_started: float
    deploy_started: float
    engine_ready: float
    first_step: float
    level_starts: tuple[float, ...]
    level_ends: tuple[float, ...]
    cleanup_started: float
    cleanup_ended: float
    worker: int = 0  # the pid of its Ray worker (a reused worker runs several trials)


def read_trial_times(folder: Path) -> list[TrialTimes]:
    """The trials of a campaign folder that ran their sweep, in start order."""
    out = []
    campaign = CampaignFolder(folder)
    for trial_dir in sorted(campaign.trials_dir.iterdir()):
        timing_path = campaign.trial_timing_path(trial_dir.name)
        if not timing_path.exists():
            continue
        t = json.loads(timing_path.read_text())
        files = [f for level in sorted((trial_dir / "genai-bench").glob("level-*")) for f in find_level_files(level)]
        levels = sorted((f.stat().st_mtime, parse_level_file(f).duration_s) for f in files)
        if "first_step" not in t or not levels:
            continue
        out.append(TrialTimes(
            trial_id=trial_dir.name, slot=",".join(t["gpu_ids"]) if t.get("gpu_ids") else None, worker=t.get("pid", 0),
            process_started=t["process_started"], setup_started=t["setup_started"],
            deploy_started=t["deploy_started"], engine_ready=t["engine_ready"], first_step=t["first_step"],
            level_starts=tuple(end - duration for end, duration in levels),
            level_ends=tuple(end for end, _ in levels),
            cleanup_started=t["cleanup_started"], cleanup_ended=t["cleanup_ended"]))
    return sorted(out, key=lambda x: x.setup_started)


def slot_labels(trials: Sequence[TrialTimes], slots: int) -> list[str]:
    """The slot each trial (in start order) held. A GPU id says it; a simulated slot has none, so
    a trial holds the slot its worker process held before (a reused worker), else a slot no trial
    has held yet, else the free slot released last before its worker started (Ray starts a new
    worker when a slot frees)."""
    held_by: dict[str, tuple[int, float]] = {}  # slot -> (worker, released at)
    labels = []
    for t in trials:
        label = t.slot
        if label is None:
            label = next((s for s, (worker, _) in held_by.items() if worker == t.worker), None)
        if label is None:
            unused = [f"sim{i}" for i in range(slots) if f"sim{i}" not in held_by]
            free = sorted((released, s) for s, (_, released) in held_by.items() if released <= t.setup_started)
            before = [s for released, s in free if released <= t.process_started]
            label = unused[0] if unused else before[-1] if before else free[0][1] if free else f"sim{len(held_by)}"
        held_by[label] = (t.worker, t.cleanup_ended)
        labels.append(label)
    return labels


def phase_seconds(trials: Sequence[TrialTimes], modelled_startup_s: float, slots: int = 1) -> list[dict[str, float]]:
    """Each trial's seconds per phase (:data:`PHASES`), plus ``held``: its whole time on the slot,
    and ``first``: 1 when a Ray worker started for it, else 0 (it reused the worker of the slot's
    previous trial). ``slots``: how many the campaign had."""
    released: dict[str, float] = {}  # slot -> when its previous trial let it go
    workers: dict[str, int] = {}  # slot -> its previous trial's worker
    out = []
    for t, slot in zip(trials, slot_labels(trials, slots)):
        held_from = released.get(slot, t.process_started)
        engine = t.engine_ready - t.deploy_started
        phases = {
            "ray": t.setup_started - held_from,
            "setup": t.deploy_started - t.setup_started,
            "engine": min(modelled_startup_s, engine),
            "engine+": max(0.0, engine - modelled_startup_s),
            "to_step": t.first_step - t.engine_ready,
            "bench_start": t.level_starts[0] - t.first_step,
            "load": sum(e - s for s, e in zip(t.level_starts, t.level_ends)),
            "gaps": sum(s - e for s, e in zip(t.level_starts[1:], t.level_ends[:-1])),
            "stop": t.cleanup_started - t.level_ends[-1],
            "teardown": t.cleanup_ended - t.cleanup_started,
        }
        phases["held"] = t.cleanup_ended - held_from
        phases["first"] = float(workers.get(slot) != t.worker)
        released[slot], workers[slot] = t.cleanup_ended, t.worker
        out.append(phases)
    return out


@dataclass(frozen=True)
class SlotUse:
    """Means per trial and the shares of slot time."""

    trials: int
    mean: dict[str, float]  # phase -> mean seconds per trial (and "held")
    overhead_s: float  # mean seconds per trial neither in engine start-up nor under load
    first_overhead_s: float  # the same, of trials for which a Ray worker started
    reused_overhead_s: float  # the same, of the trials that reused their slot's worker
    load_share: float  # time under load / slot time held
    useful_share: float  # (engine start-up + load) / slot time held


def overhead_of(phases: dict[str, float]) -> float:
    """A trial's seconds neither in engine start-up nor under load."""
    return sum(phases[k] for k in PHASES if k not in NOT_OVERHEAD)


def slot_use(per_trial: Sequence[dict[str, float]]) -> SlotUse:
    n = len(per_trial)
    mean = {k: sum(p[k] for p in per_trial) / n for k in (*PHASES, "held")}
    held = sum(p["held"] for p in per_trial)
    first = [overhead_of(p) for p in per_trial if p["first"]]
    reused = [overhead_of(p) for p in per_trial if not p["first"]]
    return SlotUse(
        trials=n, mean=mean, overhead_s=sum(overhead_of(p) for p in per_trial) / n,
        first_overhead_s=sum(first) / len(first) if first else math.nan,
        reused_overhead_s=sum(reused) / len(reused) if reused else math.nan,
        load_share=sum(p["load"] for p in per_trial) / held,
        useful_share=sum(p["load"] + p["engine"] for p in per_trial) / held)


__all__ = ["NOT_OVERHEAD", "PHASES", "PHASE_NAMES", "SlotUse", "TrialTimes", "overhead_of", "phase_seconds",
           "read_trial_times", "slot_labels", "slot_use"]
