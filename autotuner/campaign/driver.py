"""The campaign API: run a validated task with Ray Tune; resume one; read it back.

A campaign has two phases, each a Ray Tune experiment over the same trainable: the search (Optuna
proposes configs, each trial finds its SLO boundary, the bound rule stops trials that cannot win)
and the re-measurement of the best configs at their boundary load, which picks the answer. The
CLI, ``ray job submit`` and the web app all go through :func:`run_campaign`::

    spec = require_valid(yaml.safe_load(open("examples/quickstart.yaml")))
    result = run_campaign(spec)
    print(result.best.launch_command_line)

The driver orchestrates; each step lives below it: the start in its folder
(:mod:`~autotuner.campaign.start`), Ray (:mod:`~autotuner.campaign.ray_connection`), the Tune
experiments (:mod:`~autotuner.campaign.tune_phases`), the end (:mod:`~autotuner.campaign.finish`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TextIO

from autotuner.campaign.errors import CampaignError
from autotuner.campaign.folder_guard import guard_output
from autotuner.campaign.finish import settled_status, wrap_up
from autotuner.campaign.gc import collect_garbage
from autotuner.campaign.ray_connection import connect_ray, require_placeable
from autotuner.campaign.start import (StartMode, api_key, begin_run, campaign_id, folder_lock, prepare_spec,
                                      start_mode, stored_spec)
from autotuner.campaign.stop_signals import CampaignStopped, StopSignals
from autotuner.campaign.tune_phases import campaign_callbacks, campaign_trainable, run_remeasurement, run_search
from autotuner.engines.api_key import scrub_tree
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, CampaignStatus, TrialRecord
from autotuner.task.paths import resolve_here
from autotuner.task.ray_job import current_ray_job
from autotuner.task.load import SpecError, load_spec, require_valid
from autotuner.task.spec import TaskSpec


@dataclass
class CampaignResult:
    folder: Path
    status: CampaignStatus  # finished | stopped | interrupted
    trials: list[TrialRecord]
    best: BestAnswer | None
    wall_s: float
    already_finished: bool = False  # the folder held this campaign, finished: nothing was run


def run_campaign(spec: TaskSpec, *, resume: bool = False, stream: TextIO | None = None,
                 callbacks: Sequence[Any] = ()) -> CampaignResult:
    """Run (or resume) a campaign to the end; returns its trials and the best config.

    Relative paths in ``spec`` resolve against the current directory (autotuner/task/paths.py).
    One driver at a time holds the campaign folder (autotuner/campaign/lock.py); SIGTERM and SIGINT
    stop it so that ``resume=True`` goes on without repeating finished trials
    (autotuner/campaign/stop_signals.py).
    """
    from ray import tune

    spec = resolve_here(require_valid(spec))
    folder = CampaignFolder(spec.output_dir)
    job = current_ray_job()
    job_id = job.submission_id if job else None
    owned = False  # once campaign.json is this run's, a stop signal is recorded in it at once
    api_key(spec)  # before anything is created: a missing key is the user's to fix
    guard_output(folder.path)  # FolderError before anything is written: what the folder may be (folder_guard.py)

    def record_stop(signal_name: str) -> None:
        if owned:
            folder.update_meta(status=CampaignStatus.STOPPED, stop_signal=signal_name)

    def lost_lock() -> None:
        print(f"error: another run took over {folder.path}: stopping this one", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    with StopSignals(on_stop=record_stop) as stop, folder_lock(folder, job_id, on_lost=lost_lock):
        try:
            stored = stored_spec(folder)
            mode = start_mode(folder, folder.read_meta(), trials_started=folder.has_trials(),
                              can_restore=tune.Tuner.can_restore(str(folder.tune_dir)), resume=resume,
                              same_task=stored is not None and stored == spec)
            if resume or mode == StartMode.ALREADY_FINISHED:
                if stored is None and mode != StartMode.FRESH:
                    raise CampaignError(f"nothing to resume in {folder.path}: no valid {folder.SPEC}")
                spec = stored or spec
            if mode == StartMode.ALREADY_FINISHED:
                if job_id:  # the web app lists this job as the campaign's, not as a task that ran nothing
                    folder.write_meta(folder.read_meta().with_idle_run(ray_job_id=job_id, now=time.time()))
                return _result(folder, 0.0, already_finished=True)
            key = api_key(spec)  # the stored task's, on a resume
            scrub_tree(folder.trials_dir, key)  # what a killed run left in clear text
            prepared = prepare_spec(spec)
            cid = campaign_id(prepared)
            begin_run(folder, spec, mode, cid, job_id)
            owned = True
            return _run(prepared, cid, key, mode == StartMode.RESTORE, stop, stream, callbacks)
        except CampaignStopped as stopped:  # before _run took over: nothing ran
            if owned:
                folder.update_meta(status=CampaignStatus.STOPPED, ended=time.time(), stop_signal=stopped.signal_name)
            return CampaignResult(folder.path, CampaignStatus.STOPPED, [], None, 0.0)


def _result(folder: CampaignFolder, wall_s: float, already_finished: bool = False) -> CampaignResult:
    meta, trials, _ = folder.load()
    best = folder.read_best() if meta.best_trial else None
    return CampaignResult(folder.path, meta.status, trials, best, wall_s, already_finished)


def _run(spec: TaskSpec, cid: str, key: str | None, restore: bool, stop: StopSignals, stream: TextIO | None,
         callbacks: Sequence[Any]) -> CampaignResult:
    """Start Ray, run Tune, and always leave campaign.json saying how it ended."""
    from autotuner.trial.objective import objective_from_spec

    folder = CampaignFolder(spec.output_dir)
    objective = objective_from_spec(spec.objective)
    t0 = time.monotonic()
    status, error, tuned = CampaignStatus.FAILED, None, False
    try:
        connect_ray(spec)
        stop.reinstall()  # ray.init installed its own SIGTERM handler
        require_placeable(spec)
        collect_garbage(spec, cid)
        all_callbacks = campaign_callbacks(spec, folder, cid, objective.unit, stream, callbacks)
        trainable = campaign_trainable(spec, cid, key, folder)
        folder.update_meta(status=CampaignStatus.RUNNING)
        with stop.tuning():
            run_search(spec, trainable, folder, restore, all_callbacks)
            if settled_status(folder.read_trials(), spec, stop.received) == CampaignStatus.FINISHED:
                run_remeasurement(spec, trainable, folder, all_callbacks)
        tuned = True
    except CampaignStopped:
        status = CampaignStatus.STOPPED
    except BaseException as err:
        error = str(err) if isinstance(err, CampaignError) else f"{type(err).__name__}: {err}"
        raise
    finally:
        # Never raises: a failure here must not hide the error that brought us here.
        late = wrap_up(spec, cid, objective.unit, folder, status, error, tuned, stop.received)
    if late is not None:
        raise late
    return _result(folder, time.monotonic() - t0)


def run_campaign_file(path: str | Path, *, resume: bool = False, output: str | None = None,
                      stream: TextIO | None = None) -> CampaignResult:
    """Load, check and run a task file (the entry point of ``autotuner run`` and Ray Jobs)."""
    spec, problems = load_spec(path)
    if spec is None or problems:
        raise SpecError(problems)
    if output:
        spec = spec.model_copy(update={"output": output})
    return run_campaign(spec, resume=resume, stream=stream)


__all__ = ["CampaignError", "CampaignResult", "run_campaign", "run_campaign_file"]
