"""A campaign's trials as the web app shows them: the Parquet tables of its folder, overlaid with
the fresher entries of the results hub, and settled when the run behind them is gone.

Rows of a run that is no longer alive (driver killed, cluster restarted) never stay "running"::

    trials, levels = read_tables(folder)
    apply_hub_entries(trials, levels, entries)          # from ResultsHub.changes
    trials = settle_trials(trials, live=campaign_is_live(meta, {job_id: "RUNNING"}, read_owner(folder)))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Mapping

from autotuner.campaign.lock import LockOwner
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignMeta, CampaignStatus, LevelRow, TrialRecord, TrialStatus

TrialRows = dict[str, TrialRecord]
LevelRows = dict[str, list[LevelRow]]

UNFINISHED = (TrialStatus.PENDING, TrialStatus.DEPLOYING, TrialStatus.RUNNING)
ACTIVE_JOB_STATES = ("PENDING", "RUNNING")
INTERRUPTED_REASON = "the campaign stopped before this trial finished"


def read_tables(folder: Path) -> tuple[TrialRows, LevelRows]:
    """The folder's trials by trial id, and its levels grouped by trial id in level order."""
    campaign = CampaignFolder(folder)
    trials = {t.trial_id: t for t in campaign.read_trials()}
    levels: LevelRows = {}
    for row in campaign.read_levels():
        levels.setdefault(row.trial_id, []).append(row)
    for rows in levels.values():
        rows.sort(key=lambda r: r.level)
    return trials, levels


def apply_hub_entries(trials: TrialRows, levels: LevelRows, entries: Iterable[dict[str, Any]]) -> None:
    """Overlay hub entries (table rows, :class:`autotuner.results.hub.HubState`) in place; an entry
    without levels keeps the levels already known."""
    for entry in entries:
        trial = TrialRecord.from_row(entry["trial"])
        trials[trial.trial_id] = trial
        if entry["levels"] is not None:
            levels[trial.trial_id] = sorted((LevelRow.from_row(r) for r in entry["levels"]), key=lambda r: r.level)


def campaign_is_live(meta: CampaignMeta, job_statuses: Mapping[str, str] | None,
                     lock_owner: LockOwner | None) -> bool:
    """Whether the run that writes this campaign folder is still going.

    When campaign.json names a Ray job and the job list is known (``job_statuses``: submission id
    -> status), the job decides; a job the cluster does not know (restarted cluster) is gone.
    Otherwise the folder's lock decides (autotuner/campaign/lock.py): its owner's process when it
    runs on this host, its heartbeat when it runs elsewhere (a pod sharing the volume).
    """
    if not meta.active:
        return False
    job_id = meta.ray_job_id
    if job_id and job_statuses is not None:
        return job_statuses.get(job_id) in ACTIVE_JOB_STATES
    return lock_owner is not None and lock_owner.is_alive()


def campaign_status(meta: CampaignMeta, live: bool, job_status: str | None) -> str:
    """The status to show: campaign.json's, except that a starting or running campaign whose run
    is gone is "stopped" when its Ray job was stopped (SIGKILLed before it could say so itself),
    else "interrupted"."""
    if meta.active and not live:
        return CampaignStatus.STOPPED if job_status == "STOPPED" else CampaignStatus.INTERRUPTED
    return meta.status or "unknown"


def settle_trials(trials: TrialRows, live: bool) -> TrialRows:
    """When the run is gone, its unfinished trials show as interrupted (copies; input untouched)."""
    if live:
        return trials
    return {tid: (dataclasses.replace(t, status=TrialStatus.INTERRUPTED, reason=t.reason or INTERRUPTED_REASON)
                  if t.status in UNFINISHED else t)
            for tid, t in trials.items()}
