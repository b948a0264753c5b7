"""The task list: every campaign folder under the workspace roots plus every Ray job that runs a
campaign, joined into one row per task (a campaign folder, or a job whose folder does not exist
yet)::

    rows = build_task_rows(summaries, jobs)      # newest first
    rows[0].status, rows[0].trials_ended, rows[0].budget_trials, rows[0].best_score
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from autotuner.results.records import RESUMABLE_CAMPAIGN_STATUSES
from autotuner.task.load import load_spec
from serve_app.jobs import SOURCE_CLI, SOURCE_RAY_JOB, SOURCE_WEB, JobInfo, parse_run_command

JOB_STATUS_TEXT = {"PENDING": "pending", "RUNNING": "starting", "STOPPED": "stopped",
                   "SUCCEEDED": "finished", "FAILED": "failed"}


@dataclass(frozen=True)
class CampaignSummary:
    """What the task list needs of one campaign folder."""

    folder: Path
    campaign_id: str
    name: str
    status: str  # settled: a "running" campaign whose run is gone shows "stopped" or "interrupted"
    started: float | None
    job_id: str | None
    budget_trials: int
    trials_ended: int
    best_score: float | None
    job_ids: tuple[str, ...] = ()  # every Ray job that ran it: the first run's and each resume's
    resumes: tuple[float, ...] = ()  # when each resume started


@dataclass(frozen=True)
class TaskRow:
    """One task of the tasks page."""

    id: str
    name: str
    status: str
    trials_ended: int
    budget_trials: int | None
    best_score: float | None
    started: float | None
    source: str
    job_id: str | None = None
    job_status: str | None = None
    folder: str | None = None
    message: str = ""
    resumes: tuple[float, ...] = ()  # the campaign's resumes; ``started`` is its first start
    job_ids: tuple[str, ...] = ()  # every Ray job of the task (``job_id`` is the latest)

    @property
    def can_stop(self) -> bool:
        return self.job_status in ("PENDING", "RUNNING") and self.status != "finished"

    @property
    def can_resume(self) -> bool:
        return self.folder is not None and self.status in RESUMABLE_CAMPAIGN_STATUSES and not self.can_stop


def scan_roots(roots: Iterable[Path]) -> list[Path]:
    """Campaign folders (holding campaign.json) directly under each root."""
    found = []
    for root in roots:
        if root.is_dir():
            found += sorted(p.parent.resolve() for p in root.glob("*/campaign.json"))
    return found


def job_folder(job: JobInfo) -> Path | None:
    """The campaign folder (resolved) a job writes, when it can be told from outside the job: the
    web app's metadata, ``--output``, or the ``output`` of an absolute task file path."""
    if job.metadata.get("campaign_folder"):
        return Path(job.metadata["campaign_folder"]).resolve()
    run = parse_run_command(job.entrypoint)
    if run is None:
        return None
    if run.output and Path(run.output).is_absolute():
        return Path(run.output).resolve()
    if not Path(run.task_file).is_absolute():
        return None  # relative to the job's working directory, which the app cannot see
    spec, _ = load_spec(run.task_file)
    if spec is None or not spec.output or not Path(spec.output).expanduser().is_absolute():
        return None
    return spec.output_dir


def build_task_rows(campaigns: Iterable[CampaignSummary], jobs: Iterable[JobInfo],
                    folder_of_job: dict[str, Path | None]) -> list[TaskRow]:
    """One row per campaign folder (its first run and every resume: one row), plus one per
    campaign job whose folder holds no campaign yet (pending, starting, or failed before the
    campaign began). Newest first.

    Folders are compared as given: pass resolved paths in both ``campaigns`` and ``folder_of_job``.
    """
    jobs = list(jobs)
    rows: list[TaskRow] = []
    campaign_folders = set()
    claimed: set[str] = set()  # jobs that ran (or resume) a campaign listed: never a row of their own
    for c in campaigns:
        campaign_folders.add(c.folder)
        ids = {*c.job_ids, *([c.job_id] if c.job_id else [])}
        mine = [j for j in jobs if j.submission_id in ids or folder_of_job.get(j.submission_id) == c.folder]
        claimed.update(j.submission_id for j in mine)
        job = max(mine, key=lambda j: j.start_time or 0) if mine else None
        status = c.status
        if job is not None and job.active and job.submission_id != c.job_id:
            status = JOB_STATUS_TEXT[job.status]  # a resume that has not started its campaign yet
        rows.append(TaskRow(
            id=c.campaign_id, name=c.name, status=status, trials_ended=c.trials_ended,
            budget_trials=c.budget_trials, best_score=c.best_score, started=c.started, source=_source(job),
            job_id=job.submission_id if job else c.job_id, job_status=job.status if job else None,
            folder=str(c.folder), message=job.message if job else "", resumes=c.resumes,
            job_ids=tuple(dict.fromkeys([*c.job_ids, *(j.submission_id for j in mine)]))))
    for job in jobs:
        folder = folder_of_job.get(job.submission_id)
        if folder in campaign_folders or job.submission_id in claimed:
            continue
        run = parse_run_command(job.entrypoint)
        name = job.metadata.get("autotuner_task") or (folder.name if folder else None) or (
            Path(run.task_file).stem if run else job.submission_id)
        rows.append(TaskRow(
            id=job.submission_id, name=name, status=JOB_STATUS_TEXT.get(job.status, job.status.lower()),
            trials_ended=0, budget_trials=None, best_score=None, started=job.start_time, source=_source(job),
            job_id=job.submission_id, job_status=job.status, folder=None, message=job.message,
            job_ids=(job.submission_id,)))
    rows.sort(key=lambda r: r.started or 0, reverse=True)
    return rows


def _source(job: JobInfo | None) -> str:
    if job is None:
        return SOURCE_CLI
    return SOURCE_WEB if job.metadata.get("source") == SOURCE_WEB else SOURCE_RAY_JOB
