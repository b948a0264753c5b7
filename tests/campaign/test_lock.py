"""The campaign folder lock: one live driver per folder, also across hosts sharing a volume; a
dead driver's lock (killed process here, silent heartbeat elsewhere) is taken over."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from autotuner.campaign.lock import CampaignLock, FolderInUse, LockOwner, read_owner
from autotuner.results.folder import CampaignFolder
from tests.conftest import REPO

HOLD = """
import sys, time
from pathlib import Path
from autotuner.campaign.lock import CampaignLock, FolderInUse
try:
    lock = CampaignLock(Path(sys.argv[1]), ray_job_id="job-a", heartbeat_s=0.2).__enter__()
except FolderInUse:
    print("refused", flush=True)
    sys.exit(0)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def holder(folder, seconds=60) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def foreign_lock(folder, heartbeat_age_s: float) -> LockOwner:
    """A lock written by a driver on another pod (host) sharing the volume."""
    now = time.time()
    owner = LockOwner(token="t-other", host="other-pod", pid_namespace="pid:[1]", pid=1, pid_started=None,
                      ray_job_id="job-b", acquired=now - 600, heartbeat=now - heartbeat_age_s)
    folder.mkdir(parents=True, exist_ok=True)
    CampaignFolder(folder).lock_path.write_text(owner.to_json())
    return owner


def test_a_second_driver_is_refused_until_the_first_dies(tmp_path):
    first = holder(tmp_path)
    assert first.stdout.readline().strip() == "locked"
    with pytest.raises(FolderInUse, match=rf"pid {first.pid} .*ray job stop job-a"):
        CampaignLock(tmp_path).acquire()
    first.send_signal(signal.SIGKILL)  # what `ray job stop` does after its grace period
    first.wait()
    with CampaignLock(tmp_path) as lock:  # same host, dead pid: taken over at once
        assert read_owner(tmp_path).token == lock.owner.token
    assert not CampaignFolder(tmp_path).lock_path.exists()


def test_the_heartbeat_advances_and_release_removes_only_the_own_lock(tmp_path):
    with CampaignLock(tmp_path, heartbeat_s=0.1) as lock:
        first = read_owner(tmp_path).heartbeat
        time.sleep(0.5)
        assert read_owner(tmp_path).heartbeat > first
        assert read_owner(tmp_path).token == lock.owner.token
    assert not CampaignFolder(tmp_path).lock_path.exists()


def test_a_lock_of_another_host_holds_while_its_heartbeat_is_fresh(tmp_path):
    foreign_lock(tmp_path, heartbeat_age_s=2)
    with pytest.raises(FolderInUse, match="other-pod"):
        CampaignLock(tmp_path).acquire()
    assert read_owner(tmp_path).token == "t-other"
    foreign_lock(tmp_path, heartbeat_age_s=120)
    with CampaignLock(tmp_path) as lock:
        assert read_owner(tmp_path).token == lock.owner.token


def test_of_many_drivers_taking_over_a_stale_lock_exactly_one_wins(tmp_path):
    foreign_lock(tmp_path, heartbeat_age_s=120)
    procs = [holder(tmp_path, seconds=5) for _ in range(6)]
    answers = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.wait(timeout=30)
    assert answers == ["locked"] + ["refused"] * 5


def test_a_driver_learns_that_its_lock_was_taken_over(tmp_path):
    lost = threading.Event()
    with CampaignLock(tmp_path, heartbeat_s=0.1, on_lost=lost.set):
        foreign_lock(tmp_path, heartbeat_age_s=0)  # e.g. this driver stalled past stale_after_s
        assert lost.wait(5)
    assert json.loads(CampaignFolder(tmp_path).lock_path.read_text())["token"] == "t-other"  # not removed
