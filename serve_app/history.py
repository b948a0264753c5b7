"""A campaign's trials as the web app shows them: the Parquet tables of its folder, overlaid with
the fresher entries of the results hub, and settled when the run behind them is gone.

Rows of a run that is no longer alive (driver killed, cluster restarted) never stay "running"::

    trials, levels = read_tables(folder)
    apply_hub_entries(trials, levels, entries)          # from ResultsHub.changes
    trials = settle_trials(trials, live=campaign_is_live(meta, {job_id: "RUNNING"}, read_owner(folder)))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from autotuner.campaign.lock import LockOwner
from autotuner.results.folder import (ACTIVE_CAMPAIGN_STATUSES, CAMPAIGN_INTERRUPTED, CAMPAIGN_STOPPED, DEPLOYING,
                               INTERRUPTED, PENDING, RUNNING, read_rows)

TrialRows = dict[str, dict[str, Any]]
LevelRows = dict[str, list[dict[str, Any]]]

UNFINISHED = (PENDING, DEPLOYING, RUNNING)
ACTIVE_JOB_STATES = ("PENDING", "RUNNING")
INTERRUPTED_REASON = "the campaign stopped before this trial finished"


def read_tables(folder: Path) -> tuple[TrialRows, LevelRows]:
    """trials.parquet by trial id, and levels.parquet grouped by trial id in level order."""
    trials = {row["trial_id"]: row for row in read_rows(folder / "trials.parquet")}
    levels: LevelRows = {}
    for row in read_rows(folder / "levels.parquet"):
        levels.setdefault(row["trial_id"], []).append(row)
    for rows in levels.values():
        rows.sort(key=lambda r: r["level"])
    return trials, levels


def apply_hub_entries(trials: TrialRows, levels: LevelRows, entries: Iterable[dict[str, Any]]) -> None:
    """Overlay hub entries in place; an entry without levels keeps the levels already known."""
    for entry in entries:
        trial = entry["trial"]
        trials[trial["trial_id"]] = trial
        if entry["levels"] is not None:
            levels[trial["trial_id"]] = sorted(entry["levels"], key=lambda r: r["level"])


def campaign_is_live(meta: dict[str, Any], job_statuses: Mapping[str, str] | None,
                     lock_owner: LockOwner | None) -> bool:
    """Whether the run that writes this campaign folder is still going.

    When campaign.json names a Ray job and the job list is known (``job_statuses``: submission id
    -> status), the job decides; a job the cluster does not know (restarted cluster) is gone.
    Otherwise the folder's lock decides (autotuner/campaign/lock.py): its owner's process when it
    runs on this host, its heartbeat when it runs elsewhere (a pod sharing the volume).
    """
    if meta.get("status") not in ACTIVE_CAMPAIGN_STATUSES:
        return False
    job_id = meta.get("ray_job_id")
    if job_id and job_statuses is not None:
        return job_statuses.get(job_id) in ACTIVE_JOB_STATES
    return lock_owner is not None and lock_owner.is_alive()


def campaign_status(meta: dict[str, Any], live: bool, job_status: str | None) -> str:
    """The status to show: campaign.json's, except that a starting or running campaign whose run
    is gone is "stopped" when its Ray job was stopped (SIGKILLed before it could say so itself),
    else "interrupted"."""
    status = meta.get("status") or "unknown"
    if status in ACTIVE_CAMPAIGN_STATUSES and not live:
        return CAMPAIGN_STOPPED if job_status == "STOPPED" else CAMPAIGN_INTERRUPTED
    return status


def settle_trials(trials: TrialRows, live: bool) -> TrialRows:
    """When the run is gone, its unfinished trials show as interrupted (copies; input untouched)."""
    if live:
        return trials
    return {tid: ({**row, "status": INTERRUPTED, "reason": row.get("reason") or INTERRUPTED_REASON}
                  if row.get("status") in UNFINISHED else row)
            for tid, row in trials.items()}
