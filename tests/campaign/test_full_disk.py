"""Issue 25 item 6, a full disk: on a real 3 MB tmpfs (mounting one needs root; skipped without),
the campaign ends "failed" with the reason in campaign.json, the CLI says it in one line, nothing
already written is lost, and once space is freed the folder can be resumed."""

import errno
import json
import os
import subprocess
import sys

import pytest
import yaml

from autotuner.results.folder import CampaignFolder, read_rows, write_parquet
from autotuner.results.records import CampaignMeta, CampaignStatus
from tests.conftest import REPO
from tests.campaign.test_campaign import GOOD, small_task
from tests.campaign.test_campaign_lifecycle import closed_port


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=False)  # detached even while a file is open


def fill(disk, leave_kib: int) -> None:
    """Fill the disk but ``leave_kib`` KiB."""
    stat = os.statvfs(disk)
    free_kib = stat.f_bavail * stat.f_frsize // 1024
    (disk / "filler").write_bytes(b"\0" * (max(free_kib - leave_kib, 0) * 1024))


def test_on_a_full_disk_the_last_status_is_written_and_the_tables_stay_whole(small_disk):
    folder = small_disk / "c"
    folder.mkdir()
    campaign = CampaignFolder(folder)
    campaign.write_meta(CampaignMeta(id="c-1", name="c", status=CampaignStatus.RUNNING))
    write_parquet(folder / "trials.parquet", [{"trial_id": "t1", "score": 1.0}])
    fill(small_disk, 0)
    with pytest.raises(OSError) as raised:
        write_parquet(folder / "trials.parquet", [{"trial_id": "t1", "score": 2.0}, {"trial_id": "t2", "score": 3.0}])
    assert raised.value.errno == errno.ENOSPC or "No space left" in str(raised.value)
    assert read_rows(folder / "trials.parquet") == [{"trial_id": "t1", "score": 1.0}]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    campaign.update_meta(status=CampaignStatus.FAILED, error="OSError: [Errno 28] No space left on device")
    assert campaign.read_meta().status == CampaignStatus.FAILED and "No space left" in campaign.read_meta().error


@pytest.mark.integration
def test_a_campaign_that_fills_the_disk_ends_failed_with_one_line_and_can_be_resumed(small_disk):
    task = small_task(small_disk, trials=2)
    task["search"]["initial_configs"] = [GOOD]
    task_file = small_disk.parent / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    fill(small_disk, 20)  # room for the lock, spec.yaml and campaign.json, not for Tune's state
    cli = [sys.executable, "-m", "autotuner.cli", "run", str(task_file)]
    done = subprocess.run(cli, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""}, cwd=REPO,
                          timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout[-2000:] + done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "no space left on the device" in errors[0], done.stderr[-3000:]
    meta = json.loads((small_disk / "campaign" / "campaign.json").read_text())
    assert meta["status"] == "failed" and "No space left" in meta["error"], meta
    (small_disk / "filler").unlink()
    # With space again the folder is the campaign's: a resume goes as far as Ray (here, unreachable).
    again = subprocess.run(cli + ["--resume"], capture_output=True, text=True, cwd=REPO, timeout=120,
                           env={**os.environ, "RAY_ADDRESS": f"127.0.0.1:{closed_port()}"})
    assert again.returncode == 1 and "cannot reach the Ray cluster" in again.stderr, again.stderr[-2000:]
