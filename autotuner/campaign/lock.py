"""One driver per campaign folder: a lock file with its owner and a heartbeat.

``flock`` alone is not enough: the workspace may be a shared volume (NFS, a Kubernetes PVC) seen
from several pods, where advisory locks are not shared, and a driver killed with SIGKILL (``ray
job stop`` after its grace period) must not block the folder forever. So the lock is a file,
``campaign.lock``, that names its owner (host, pid, Ray job) and carries a heartbeat the owner
refreshes every few seconds::

    with CampaignLock(folder, ray_job_id="raysubmit_...") as lock:
        ...                                     # FolderInUse when another live driver holds it

An owner is alive when it runs on this host (same host name and pid namespace) and its process
still exists, or, seen from another host, while its heartbeat is younger than ``stale_after_s``
(clocks of the hosts are assumed to agree within a few seconds, as NTP keeps them). A dead
owner's lock is taken over.

Creation is atomic without O_EXCL semantics on the volume: the owner's record is written to a
file of its own and hard-linked to ``campaign.lock`` (link fails when the name exists). Taking
over a stale lock renames it away first, so of several contenders exactly one removes it; a
contender that finds it moved a live lock instead (it changed between reading and renaming) puts
it back.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import psutil

from autotuner.results.folder import CampaignFolder

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0


def _pid_namespace() -> str:
    """Which pid numbering this process sees (two containers of one pod share a host name)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process_started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


@dataclass(frozen=True)
class LockOwner:
    """Who holds a campaign folder, as written in its lock file."""

    token: str
    host: str
    pid_namespace: str
    pid: int
    pid_started: float | None
    ray_job_id: str | None
    acquired: float
    heartbeat: float

    @classmethod
    def this_process(cls, ray_job_id: str | None = None, pid: int | None = None) -> "LockOwner":
        """An owner record for process ``pid`` (default: this one) on this host."""
        pid = pid or os.getpid()
        now = time.time()
        return cls(token=uuid.uuid4().hex, host=socket.gethostname(), pid_namespace=_pid_namespace(), pid=pid,
                   pid_started=_process_started(pid), ray_job_id=ray_job_id, acquired=now, heartbeat=now)

    @classmethod
    def from_json(cls, text: str) -> "LockOwner":
        data = json.loads(text)
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname() and self.pid_namespace == _pid_namespace()

    def is_alive(self, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
        """Whether the owner still runs: its process, on this host; its heartbeat, elsewhere."""
        if self.on_this_host():
            started = _process_started(self.pid)
            return started is not None and (self.pid_started is None or abs(started - self.pid_started) < 1.0)
        return (now if now is not None else time.time()) - self.heartbeat < stale_after_s

    def describe(self) -> str:
        job = f", Ray job {self.ray_job_id}" if self.ray_job_id else ""
        return f"pid {self.pid} on host {self.host}{job}, last heartbeat {time.time() - self.heartbeat:.0f} s ago"


class FolderInUse(RuntimeError):
    """Another live driver holds the campaign folder."""

    def __init__(self, folder: Path, owner: LockOwner | None):
        who = f" ({owner.describe()})" if owner else ""
        how = f" (`ray job stop {owner.ray_job_id}`)" if owner and owner.ray_job_id else ""
        super().__init__(f"{folder} is in use by another autotuner run{who}: wait for it to end, or stop it{how}")
        self.owner = owner


def read_owner(folder: Path) -> LockOwner | None:
    """The lock's owner, or None when the folder is not locked (or the file is not a lock)."""
    try:
        return LockOwner.from_json(CampaignFolder(folder).lock_path.read_text())
    except (OSError, ValueError, TypeError):
        return None


class CampaignLock:
    """The exclusive, heartbeated lock of one campaign folder (see the module's docstring).

    ``on_lost`` is called (from the heartbeat thread) if the lock is found taken over by someone
    else, which happens only when this process stalled for longer than ``stale_after_s``.
    """

    def __init__(self, folder: Path, *, ray_job_id: str | None = None, heartbeat_s: float = HEARTBEAT_S,
                 stale_after_s: float = STALE_AFTER_S, on_lost: Callable[[], None] | None = None):
        self.folder = folder
        self.path = CampaignFolder(folder).lock_path
        self.ray_job_id = ray_job_id
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.on_lost = on_lost
        self.owner: LockOwner | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "CampaignLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> LockOwner:
        """Take the lock; :class:`FolderInUse` when a live owner holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        owner = LockOwner.this_process(self.ray_job_id)
        for _ in range(5):
            if self._create(owner):
                self.owner = owner
                self._start_heartbeat()
                return owner
            held = read_owner(self.folder)
            if held is not None and held.is_alive(stale_after_s=self.stale_after_s):
                raise FolderInUse(self.folder, held)
            if held is None and self._younger_than_stale():
                time.sleep(0.2)  # not a lock record (yet): give its writer a moment
                continue
            self._break(held)
        raise FolderInUse(self.folder, read_owner(self.folder))

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this process's."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self.owner is not None and self._still_mine():
            self.path.unlink(missing_ok=True)
        self.owner = None

    def _create(self, owner: LockOwner) -> bool:
        record = self.path.with_name(f".{self.path.name}.{owner.token}")
        record.write_text(owner.to_json())
        try:
            os.link(record, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            record.unlink(missing_ok=True)

    def _younger_than_stale(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime < self.stale_after_s
        except FileNotFoundError:
            return True

    def _break(self, seen: LockOwner | None) -> None:
        """Remove a dead owner's lock, unless it changed since it was judged dead."""
        moved = self.path.with_name(f".{self.path.name}.stale.{uuid.uuid4().hex}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return  # someone else removed it
        try:
            now = LockOwner.from_json(moved.read_text())
        except (OSError, ValueError, TypeError):
            now = None
        if seen is not None and (now is None or now.token != seen.token):
            try:
                os.link(moved, self.path)  # a live lock was moved: put it back (if the name is free)
            except FileExistsError:
                pass
        moved.unlink(missing_ok=True)

    def _still_mine(self) -> bool:
        held = read_owner(self.folder)
        return held is not None and self.owner is not None and held.token == self.owner.token

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="campaign-lock-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self._still_mine():
                if self.on_lost is not None:
                    self.on_lost()
                return
            assert self.owner is not None
            self.owner = replace(self.owner, heartbeat=time.time())
            tmp = self.path.with_name(f".{self.path.name}.{self.owner.token}")
            try:
                tmp.write_text(self.owner.to_json())
                os.replace(tmp, self.path)
            except OSError:  # a volume hiccup or a full disk: the next beat tries again
                tmp.unlink(missing_ok=True)
                continue


__all__ = ["CampaignLock", "FolderInUse", "LockOwner", "read_owner"]
