"""A campaign's trials as the web app shows them: the Parquet tables of its folder, overlaid with
the fresher entries of the results hub, and settled when the run behind them is gone.

Rows of a run that is no longer alive (driver killed, cluster restarted) never stay "running"::

    trials, levels = read_tables(folder)
    apply_hub_entries(trials, levels, entries)          # from ResultsHub.changes
    trials = settle_trials(trials, live=campaign_is_live(meta, {job_id: "RUNNING"}))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import psutil

from autotuner.results import DEPLOYING, INTERRUPTED, PENDING, RUNNING, read_rows

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


def pid_alive(pid: int | None) -> bool:
    """Whether a campaign driver with this pid still runs on this host."""
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        command = " ".join(proc.cmdline()).lower()
        # A reused pid belongs to another program: a campaign driver runs Python (autotuner).
        return proc.status() != psutil.STATUS_ZOMBIE and ("python" in command or "autotuner" in command)
    except (psutil.Error, ValueError):
        return False


def campaign_is_live(meta: dict[str, Any], job_statuses: Mapping[str, str] | None,
                     is_pid_alive: Callable[[int | None], bool] = pid_alive) -> bool:
    """Whether the run that writes this campaign folder is still going.

    When campaign.json names a Ray job and the job list is known (``job_statuses``: submission id
    -> status), the job decides; a job the cluster does not know (restarted cluster) is gone.
    Otherwise the driver's pid decides.
    """
    if meta.get("status") != "running":
        return False
    job_id = meta.get("ray_job_id")
    if job_id and job_statuses is not None:
        return job_statuses.get(job_id) in ACTIVE_JOB_STATES
    return is_pid_alive(meta.get("pid"))


def campaign_status(meta: dict[str, Any], live: bool) -> str:
    """The status to show: campaign.json's, except a "running" whose run is gone is interrupted."""
    status = meta.get("status") or "unknown"
    return "interrupted" if status == "running" and not live else status


def settle_trials(trials: TrialRows, live: bool) -> TrialRows:
    """When the run is gone, its unfinished trials show as interrupted (copies; input untouched)."""
    if live:
        return trials
    return {tid: ({**row, "status": INTERRUPTED, "reason": row.get("reason") or INTERRUPTED_REASON}
                  if row.get("status") in UNFINISHED else row)
            for tid, row in trials.items()}
