"""How a run starts in its campaign folder: the folder's lock, what the folder holds (nothing, an
unfinished campaign to resume, a finished one), the task to run (the stored one on a resume) and
campaign.json saying the run is starting::

    with folder_lock(folder, job_id, on_lost=...):
        mode = start_mode(folder, folder.read_meta(), trials_started=..., can_restore=..., resume=..., same_task=...)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import socket
import time
from enum import StrEnum
from typing import Callable, Iterator

from autotuner.campaign.errors import CampaignError
from autotuner.campaign.lock import CampaignLock, FolderInUse
from autotuner.engines.api_key import ApiKeyError, api_key_for
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignMeta, CampaignStatus
from autotuner.task.paths import resolve_here
from autotuner.task.spec import TaskSpec


class StartMode(StrEnum):
    """What a run does with its folder: start the campaign, restore Tune's state, or nothing (the
    campaign there is finished)."""

    FRESH = "fresh"
    RESTORE = "restore"
    ALREADY_FINISHED = "already finished"


def start_mode(folder: CampaignFolder, meta: CampaignMeta | None, *, trials_started: bool, can_restore: bool,
               resume: bool, same_task: bool) -> StartMode:
    """How to run a campaign in ``folder``: FRESH, RESTORE (Tune's state) or ALREADY_FINISHED;
    :class:`CampaignError` when the folder holds something that this run must not overwrite.

    A campaign that started no trial (Ray unreachable, stopped or failed while starting) has
    nothing to lose or repeat: it is run again from the start, also with ``--resume``.
    """
    if meta is None:
        if resume:
            raise CampaignError(f"nothing to resume in {folder.path}: no campaign there")
        return StartMode.FRESH
    if not trials_started:
        return StartMode.FRESH
    status = meta.status
    if status == CampaignStatus.FINISHED:
        if resume or same_task:
            return StartMode.ALREADY_FINISHED
        raise CampaignError(f"{folder.path} holds a finished campaign of another task: set another output folder")
    if not resume:
        raise CampaignError(f"{folder.path} holds an unfinished campaign ({status}): resume it with --resume, "
                            f"or set another output folder")
    if not can_restore:
        raise CampaignError(f"nothing to resume in {folder.tune_dir}: no Tune experiment state")
    return StartMode.RESTORE


def stored_spec(folder: CampaignFolder) -> TaskSpec | None:
    """The task a campaign folder was run with (its paths resolved, its output the folder)."""
    stored, problems = folder.read_spec()
    if stored is None or problems:
        return None
    return resolve_here(stored).model_copy(update={"output": str(folder.path)})


def prepare_spec(spec: TaskSpec) -> TaskSpec:
    """Fill in what the task leaves to the tool: the built-in tokenizer for the simulator."""
    if spec.engine.simulated and not spec.model.tokenizer:
        from autotuner.sim.tokenizer import default_tokenizer_dir, ensure_tokenizer

        tok = ensure_tokenizer(default_tokenizer_dir())
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"tokenizer": str(tok)})})
    return spec


def campaign_id(spec: TaskSpec) -> str:
    """Name plus a short hash of the folder: two campaigns of one name never share Kubernetes labels."""
    digest = hashlib.sha1(str(spec.output_dir).encode()).hexdigest()[:6]
    return f"{spec.name[:33]}-{digest}"


def api_key(spec: TaskSpec) -> str | None:
    """The engine's API key the task names, or :class:`CampaignError` saying what is missing."""
    try:
        return api_key_for(spec)
    except ApiKeyError as err:
        raise CampaignError(str(err)) from None


@contextlib.contextmanager
def folder_lock(folder: CampaignFolder, job_id: str | None, on_lost: Callable[[], None]) -> Iterator[CampaignLock]:
    """Hold the campaign folder's lock; :class:`CampaignError` when another driver holds it."""
    lock = CampaignLock(folder.path, ray_job_id=job_id, on_lost=on_lost)
    try:
        lock.acquire()
    except FolderInUse as err:
        raise CampaignError(str(err)) from None
    try:
        yield lock
    finally:
        lock.release()


def begin_run(folder: CampaignFolder, spec: TaskSpec, mode: StartMode, cid: str, job_id: str | None) -> None:
    """Write what a starting run owns: on a fresh start the task as given (and no Tune state of an
    earlier start that ran no trial), and campaign.json saying "starting", with this run listed."""
    if mode == StartMode.FRESH:
        for stale in (folder.tune_dir, folder.remeasure_tune_dir):
            shutil.rmtree(stale, ignore_errors=True)
        folder.write_spec(spec)
    before = CampaignMeta() if mode == StartMode.FRESH else folder.read_meta() or CampaignMeta()
    meta = dataclasses.replace(
        before, id=cid, name=spec.name, status=CampaignStatus.STARTING, ended=None, host=socket.gethostname(),
        ray_job_id=job_id, budget_trials=spec.budget.trials, objective=spec.objective.kind, error=None,
        cleanup_error=None, stop_signal=None)
    folder.write_meta(meta.with_run(ray_job_id=job_id, resume=mode == StartMode.RESTORE, now=time.time()))


__all__ = ["StartMode", "api_key", "begin_run", "campaign_id", "folder_lock",
           "prepare_spec", "start_mode", "stored_spec"]
