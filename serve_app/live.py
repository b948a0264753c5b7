"""The web app's view of every task, kept fresh by one background thread per Serve replica.

Browser sessions never touch files, Ray or the hub: they read immutable snapshots from the
store and redraw when a snapshot's version changes::

    store = LiveStore([Path("runs")], jobs=CampaignJobs("http://127.0.0.1:8265"), hub=RayHubReader())
    store.start()
    rows = store.tasks()                  # the tasks page
    snap = store.campaign(rows[0].id)     # the task page: trials, levels, best config

A campaign folder is re-read when its files change (the driver rewrites its Parquet tables at
most every second); the results hub adds what happened since, within a quarter of a second.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from autotuner.campaign.lock import read_owner
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, CampaignMeta, TrialStatus
from autotuner.trial.directive import Phase
from autotuner.task.spec import TaskSpec
from serve_app.best import best_config
from serve_app.catalog import (
    CampaignSummary,
    TaskRow,
    build_task_rows,
    job_folder,
    scan_roots,
)
from serve_app.history import (
    LevelRows,
    TrialRows,
    apply_hub_entries,
    campaign_is_live,
    campaign_status,
    read_tables,
    settle_trials,
)
from serve_app.jobs import CampaignJobs, JobInfo

log = logging.getLogger(__name__)

ENDED = (TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED, TrialStatus.REJECTED)

HubChanges = dict[str, tuple[int, int, list[dict[str, Any]]]]  # campaign id -> (epoch, seq, new entries)


class HubReader(Protocol):
    """What the store asks the results hub (see :class:`autotuner.results.hub.HubState`)."""

    def changes(self, since: dict[str, tuple[int, int]]) -> HubChanges: ...

    def folders(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class CampaignSnapshot:
    """One campaign as shown at one moment. Its data never changes; ``memo`` keeps what sessions
    compute from it, ``row_cache`` the table rows reused by the campaign's next snapshots."""

    task_id: str
    folder: Path
    version: int
    meta: CampaignMeta
    spec: TaskSpec | None
    status: str
    live: bool
    trials: TrialRows
    levels: LevelRows
    best: BestAnswer | None
    memo: dict[str, Any] = field(default_factory=dict, compare=False)  # views computed once per snapshot
    row_cache: dict[str, Any] = field(default_factory=dict, compare=False)  # table rows, shared across snapshots

    @property
    def num_levels(self) -> int:
        """Levels of the longest trial so far (the load search decides each trial's count)."""
        return max((len(v) for v in self.levels.values()), default=0)

    @property
    def trials_ended(self) -> int:
        """Search trials that ended, out of the budget's (the re-measurement's trials are extra)."""
        return sum(1 for t in self.trials.values() if t.status in ENDED and t.phase != Phase.REMEASURE)

    @property
    def best_score(self) -> float | None:
        """The best config's score (:mod:`serve_app.best` is the one source of "best")."""
        best = best_config(self)
        return best.score if best else None


class RayHubReader:
    """Reads the results hub from inside the cluster; finds it again when it was restarted, and
    answers "nothing new" while there is none (history then comes from the Parquet files alone)."""

    def __init__(self, timeout_s: float = 2.0, retry_s: float = 5.0):
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._hub: Any = None
        self._next_lookup = 0.0

    def changes(self, since: dict[str, tuple[int, int]]) -> HubChanges:
        return self._call("changes", {}, since)

    def folders(self) -> dict[str, str]:
        return self._call("folders", {})

    def _call(self, method: str, nothing: Any, *args: Any) -> Any:
        import ray

        from autotuner.results.hub import get_hub

        if self._hub is None:
            if time.monotonic() < self._next_lookup:
                return nothing
            try:
                self._hub = get_hub(create=False)
            except ValueError:  # no hub (yet)
                self._next_lookup = time.monotonic() + self.retry_s
                return nothing
        try:
            return ray.get(getattr(self._hub, method).remote(*args), timeout=self.timeout_s)
        except Exception as err:  # hub killed or restarting: look it up again later
            log.info("results hub unreachable: %s", err)
            self._hub, self._next_lookup = None, time.monotonic() + self.retry_s
            return nothing


class CampaignCache:
    """A campaign folder's tables plus the hub's newer entries."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = CampaignFolder(folder)
        self.meta: CampaignMeta | None = None
        self.spec: TaskSpec | None = None
        self.best: BestAnswer | None = None
        self.version = 0
        self.hub_epoch, self.hub_seq = 0, 0
        self._hub_entries: dict[str, dict[str, Any]] = {}
        self._trials: TrialRows = {}
        self._levels: LevelRows = {}
        self._mtimes: dict[str, float] = {}
        self._snapshot: CampaignSnapshot | None = None
        self._snapshot_key: tuple[int, bool, str | None, str] | None = None
        self._row_cache: dict[str, Any] = {}

    @property
    def campaign_id(self) -> str:
        return (self.meta.id if self.meta else "") or self.folder.name

    def refresh_files(self) -> None:
        """Re-read whichever of the folder's files changed since last time."""
        changed = set()
        for name in CampaignFolder.WATCHED:
            try:
                mtime = self.files.file(name).stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if self._mtimes.get(name) != mtime:
                self._mtimes[name] = mtime
                changed.add(name)
        if not changed:
            return
        files = self.files
        if files.META in changed:
            self.meta = _read(files.read_meta) or self.meta
        if files.SPEC in changed:
            self.spec, _ = files.read_spec()
        if files.BEST in changed:
            self.best = _read(files.read_best)
        if changed & {files.TRIALS, files.LEVELS}:
            try:
                self._trials, self._levels = read_tables(self.folder)
            except OSError as err:  # a table replaced while read: next round
                log.info("cannot read %s yet: %s", self.folder, err)
                self._mtimes.pop(files.TRIALS, None)
        self.version += 1

    def apply_hub(self, epoch: int, seq: int, entries: list[dict[str, Any]]) -> None:
        if epoch != self.hub_epoch:
            self._hub_entries = {}
        self.hub_epoch, self.hub_seq = epoch, seq
        for entry in entries:
            tid = entry["trial"]["trial_id"]
            old = self._hub_entries.get(tid)
            if entry["levels"] is None and old is not None:
                entry = {**entry, "levels": old["levels"]}
            self._hub_entries[tid] = entry
        if entries:
            self.version += 1

    @property
    def active(self) -> bool:
        """campaign.json says a driver is at work (whether it still is, the job or the lock tell)."""
        return self.meta is not None and self.meta.active

    def snapshot(self, task_id: str, job_statuses: Mapping[str, str] | None) -> CampaignSnapshot:
        meta = self.meta or CampaignMeta()
        job_status = (job_statuses or {}).get(meta.ray_job_id or "")
        live = campaign_is_live(meta, job_statuses, read_owner(self.folder) if self.active else None)
        key = (self.version, live, job_status, task_id)
        if self._snapshot is not None and self._snapshot_key == key:
            return self._snapshot
        trials, levels = dict(self._trials), dict(self._levels)
        if self.active:
            # Once the run has ended its tables are final and the hub's entries can only be older.
            apply_hub_entries(trials, levels, self._hub_entries.values())
        self._snapshot_key = key
        self._snapshot = CampaignSnapshot(
            # A run that ends changes what is shown (interrupted rows) without a new file version.
            task_id=task_id, folder=self.folder, version=self.version * 2 + int(live), meta=meta,
            spec=self.spec, status=campaign_status(meta, live, job_status), live=live,
            trials=settle_trials(trials, live), levels=levels, best=self.best, row_cache=self._row_cache)
        return self._snapshot


class LiveStore:
    """Every task the app can see, refreshed by :meth:`refresh_catalog` (folders, jobs) and
    :meth:`poll_live` (the running campaigns' files and the hub), both called by one thread."""

    def __init__(self, roots: list[Path], jobs: CampaignJobs | None = None, hub: HubReader | None = None,
                 live_interval_s: float = 0.25, catalog_interval_s: float = 2.0):
        self.roots = [r.expanduser().resolve() for r in roots]
        self.jobs = jobs
        self.hub = hub
        self.live_interval_s = live_interval_s
        self.catalog_interval_s = catalog_interval_s
        self._lock = threading.Lock()
        self._caches: dict[Path, CampaignCache] = {}
        self._extra_folders: set[Path] = set()
        self._job_list: list[JobInfo] = []
        self._job_statuses: dict[str, str] | None = None
        self._folder_of_job: dict[str, Path | None] = {}
        self._rows: list[TaskRow] = []
        self.tasks_version = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading (any thread) --

    def tasks(self) -> list[TaskRow]:
        return self._rows

    def find_task(self, task_id: str) -> TaskRow | None:
        """A task by its id, or by the id of any of its Ray jobs (a just-submitted job's task, or
        an earlier run of a resumed campaign)."""
        rows = self._rows
        return next((r for r in rows if r.id == task_id), None) or next(
            (r for r in rows if task_id in r.job_ids), None) or self._task_of_job(task_id)

    def campaign(self, task_id: str) -> CampaignSnapshot | None:
        row = self.find_task(task_id)
        if row is None or row.folder is None:
            return None
        with self._lock:
            cache = self._caches.get(Path(row.folder))
            return cache.snapshot(row.id, self._job_statuses) if cache else None

    def watch(self, folder: Path) -> None:
        """Also follow a folder outside the roots (a task submitted with another output)."""
        with self._lock:
            self._extra_folders.add(folder.resolve())

    # -- refreshing (the store's thread) --

    def start(self) -> None:
        self.refresh_catalog()
        self._thread = threading.Thread(target=self._loop, name="autotuner-live-store", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        next_catalog = time.monotonic() + self.catalog_interval_s
        while not self._stop.wait(self.live_interval_s):
            try:
                if time.monotonic() >= next_catalog:
                    next_catalog = time.monotonic() + self.catalog_interval_s
                    self.refresh_catalog()
                else:
                    self.poll_live()
            except Exception:  # keep serving what is known; the next round tries again
                log.exception("refreshing the task list failed")

    def refresh_catalog(self) -> None:
        """Rescan the roots and the job list, re-read changed folders, rebuild the task rows."""
        jobs, statuses = self._list_jobs()
        folder_of_job = {j.submission_id: self._folder_of_job.get(j.submission_id) or job_folder(j) for j in jobs}
        folders = set(scan_roots(self.roots)) | self._extra_folders
        # Campaigns whose folder is not under a root: named by the job (absolute paths) or by the
        # hub (each run announces its folder, e.g. `ray job submit --working-dir .` + runs/<name>).
        announced = [Path(f) for f in self.hub.folders().values()] if self.hub else []
        elsewhere = [f for f in [*folder_of_job.values(), *announced] if f is not None]
        folders |= {f for f in elsewhere if CampaignFolder(f).is_campaign()}
        with self._lock:
            self._job_list, self._job_statuses, self._folder_of_job = jobs, statuses, folder_of_job
            for folder in folders:
                self._caches.setdefault(folder, CampaignCache(folder))
            for folder in list(self._caches):
                if folder not in folders and not CampaignFolder(folder).is_campaign():
                    del self._caches[folder]  # deleted campaign
            for cache in self._caches.values():
                cache.refresh_files()
        self._poll_hub()
        with self._lock:
            self._rebuild_rows()

    def poll_live(self) -> None:
        """Re-read the running campaigns' changed files and ask the hub what is new."""
        with self._lock:
            running = [c for c in self._caches.values() if c.active]
            before = {id(c): c.version for c in running}
            for cache in running:
                cache.refresh_files()
        self._poll_hub()
        with self._lock:
            if any(c.version != before[id(c)] for c in running):
                self._rebuild_rows()

    def _poll_hub(self) -> None:
        """Ask the hub (outside the lock: sessions never wait for Ray) and apply what is new."""
        if self.hub is None:
            return
        with self._lock:
            running = {c.campaign_id: c for c in self._caches.values() if c.active}
            since = {cid: (c.hub_epoch, c.hub_seq) for cid, c in running.items()}
        changes = self.hub.changes(since) if since else {}
        with self._lock:
            for cid, (epoch, seq, entries) in changes.items():
                if cid in running:
                    running[cid].apply_hub(epoch, seq, entries)

    def _list_jobs(self) -> tuple[list[JobInfo], dict[str, str] | None]:
        if self.jobs is None:
            return [], None
        try:
            jobs = self.jobs.list()
        except Exception as err:  # dashboard unreachable: keep the last list, decide liveness by the locks
            log.info("cannot list Ray jobs: %s", err)
            return self._job_list, None
        return jobs, {j.submission_id: j.status for j in jobs}

    def _rebuild_rows(self) -> None:
        summaries = []
        for folder, cache in self._caches.items():
            meta = cache.meta
            if meta is None:
                continue
            snap = cache.snapshot(cache.campaign_id, self._job_statuses)
            summaries.append(CampaignSummary(
                folder=folder, campaign_id=cache.campaign_id, name=meta.name or folder.name,
                status=snap.status, started=meta.started, job_id=meta.ray_job_id,
                budget_trials=meta.budget_trials, trials_ended=snap.trials_ended,
                best_score=snap.best_score, job_ids=meta.job_ids, resumes=meta.resumes))
        rows = build_task_rows(summaries, self._job_list, self._folder_of_job)
        if rows != self._rows:
            self._rows = rows
            self.tasks_version += 1

    def _task_of_job(self, job_id: str) -> TaskRow | None:
        folder = self._folder_of_job.get(job_id)
        if folder is None:
            return None
        return next((r for r in self._rows if r.folder == str(folder)), None)


def _read(reader: Callable[[], Any]) -> Any:
    """What ``reader`` reads of a file, or None while it cannot (half-replaced, not yet valid)."""
    try:
        return reader()
    except (OSError, ValueError, TypeError):
        return None
