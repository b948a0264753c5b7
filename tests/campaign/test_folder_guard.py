"""Issue 25 items 4-6: `autotuner run` writes only into a new, empty or campaign folder, refuses a
damaged or incomplete campaign folder with one line, and changes nothing it refuses. The CLI runs
as a subprocess against a Ray address nobody answers: every refusal comes before Ray is contacted,
and what the old code did before failing there (deleting tune/, rewriting spec.yaml) shows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotuner.campaign.folder_guard import (DamagedCampaign, FolderError, IncompleteCampaign, NotACampaignFolder,
                                             guard_output)
from autotuner.results.folder import CampaignFolder, write_parquet
from autotuner.results.records import CampaignMeta, CampaignRun, CampaignStatus
from tests.conftest import REPO
from tests.campaign.test_campaign import small_task
from tests.campaign.test_campaign_lifecycle import closed_port

QUICKSTART = REPO / "examples" / "quickstart.yaml"


def run_cli(*args, cwd, task=str(QUICKSTART)) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{closed_port()}", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "autotuner.cli", "run", task, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(done: subprocess.CompletedProcess, words: str) -> None:
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0], done.stderr[-2000:]


def campaign_folder(folder: Path, *, status="stopped", tune_ran=True, trials=True) -> Path:
    """A campaign folder as a stopped run leaves it (its Tune state saved after its tables)."""
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(QUICKSTART.read_text())
    CampaignFolder(folder).write_meta(CampaignMeta(id="quickstart-abc123", name="quickstart",
                                                   status=CampaignStatus(status), runs=(CampaignRun(started=1.0),)))
    write_parquet(folder / "levels.parquet", [{"trial_id": "t1", "level": 1}])
    if trials:
        write_parquet(folder / "trials.parquet", [{"trial_id": "t1", "status": "done", "score": 10.0}])
    else:  # a start that ran no trial wrote no table
        (folder / "levels.parquet").unlink()
    if tune_ran:
        (folder / "tune").mkdir()
        (folder / "tune" / "tuner.pkl").write_bytes(b"state")
        (folder / "tune" / "experiment_state-2026-12-03_00-00-00.json").write_text("{}")
        (folder / "tune-remeasure").mkdir()
        (folder / "best_config.json").write_text("{}")
    return folder


def test_output_dot_in_a_folder_of_the_users_keeps_its_tune_folder_and_spec(tmp_path):
    """The issue's reproduction: `mkdir -p /tmp/x/tune; cd /tmp/x; autotuner run quickstart.yaml --output .`"""
    (tmp_path / "tune" / "mine").mkdir(parents=True)
    (tmp_path / "tune" / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "spec.yaml").write_text("my own spec\n")
    before = snapshot(tmp_path)
    done = run_cli("--output", ".", cwd=tmp_path)
    one_error_line(done, "set a new or empty folder")
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["spec.yaml", "tune"]


@pytest.mark.parametrize("where", ["home", "parent", "symlink"])
def test_a_folder_that_is_not_a_campaigns_is_refused_before_anything_is_written(tmp_path, where):
    home = tmp_path / "home"
    (home / "project").mkdir(parents=True)
    (home / ".bashrc").write_text("export A=1\n")
    output = {"home": home, "parent": home / "project" / ".." / "..", "symlink": tmp_path / "link"}[where]
    if where == "symlink":
        output.symlink_to(home)
    before = snapshot(tmp_path)
    with pytest.raises(NotACampaignFolder, match="not a campaign folder"):
        guard_output(output)
    done = run_cli("--output", str(output), cwd=home / "project")
    one_error_line(done, "not a campaign folder")
    assert snapshot(tmp_path) == before


def test_new_empty_and_campaign_folders_are_accepted(tmp_path):
    guard_output(tmp_path / "new" / "deeper")
    (tmp_path / "empty").mkdir()
    guard_output(tmp_path / "empty")
    (tmp_path / "empty" / "task.yaml").write_text("name: q\n")  # as the web app submits it
    guard_output(tmp_path / "empty")
    guard_output(campaign_folder(tmp_path / "c"))
    guard_output(campaign_folder(tmp_path / "started-no-trial", tune_ran=False, trials=False))
    assert not (tmp_path / "new").exists()


def test_resume_without_trials_parquet_stops_and_changes_nothing(tmp_path):
    folder = campaign_folder(tmp_path / "runs" / "quickstart")
    (folder / "trials.parquet").unlink()
    before = snapshot(folder)
    with pytest.raises(IncompleteCampaign, match="lacks trials.parquet"):
        guard_output(folder)
    for extra in (["--resume"], []):
        done = run_cli("--output", str(folder), *extra, cwd=tmp_path)
        one_error_line(done, "lacks trials.parquet")
        assert snapshot(folder) == before


def test_a_campaign_json_missing_beside_campaign_tables_is_refused(tmp_path):
    folder = campaign_folder(tmp_path / "c")
    (folder / "campaign.json").unlink()
    with pytest.raises(IncompleteCampaign, match="no campaign.json"):
        guard_output(folder)


@pytest.mark.parametrize("damage", ["campaign.json", "trials.parquet", "foreign campaign.json"])
def test_a_damaged_campaign_folder_gets_one_line_and_keeps_its_files(tmp_path, damage):
    folder = campaign_folder(tmp_path / "c")
    if damage == "campaign.json":
        (folder / "campaign.json").write_text('{"id": "quickstart-abc123", "name": "qu')
    elif damage == "trials.parquet":
        data = (folder / "trials.parquet").read_bytes()
        (folder / "trials.parquet").write_bytes(data[: len(data) // 2])
    else:
        (folder / "campaign.json").write_text(json.dumps({"settings": 1}))
    before = snapshot(folder)
    with pytest.raises(DamagedCampaign):
        guard_output(folder)
    for extra in (["--resume"], []):
        done = run_cli("--output", str(folder), *extra, cwd=tmp_path)
        one_error_line(done, str(folder))
        assert snapshot(folder) == before
    report = subprocess.run([sys.executable, "-m", "autotuner.cli", "report", str(folder)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    one_error_line(report, str(folder))
    assert snapshot(folder) == before


def test_an_output_that_is_a_file_or_holds_a_nul_gets_one_line(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    one_error_line(run_cli("--output", str(tmp_path / "results"), cwd=tmp_path), "is a file, not a folder")
    assert (tmp_path / "results").read_text() == "not a folder"
    task = small_task(tmp_path, output="runs/a\x00b")
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    one_error_line(run_cli(cwd=tmp_path, task=str(task_file)), "contains a NUL character")


def mounted_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_read_only_campaign_folder_gets_one_line(tmp_path):
    mount = tmp_path / "ro"
    if not mounted_tmpfs(mount, "size=4m"):
        pytest.skip("mounting a tmpfs needs root")
    try:
        folder = campaign_folder(mount / "c")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(FolderError, match="read-only or permission denied"):
            guard_output(folder)
        one_error_line(run_cli("--output", str(folder), "--resume", cwd=tmp_path), "cannot write in")
        one_error_line(run_cli("--output", str(mount / "new"), cwd=tmp_path), "cannot write in")
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)  # detached even while a file is open


def test_system_folders_are_refused_and_nothing_outside_a_campaign_folder_is_deleted(tmp_path):
    with pytest.raises(NotACampaignFolder):
        guard_output(Path("/etc"))
    # A campaign folder whose start ran no trial is started over (its tune/ removed), but a tune/
    # that is a symlink to another folder is never followed.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.txt").write_text("keep")
    folder = campaign_folder(tmp_path / "c", status="failed", tune_ran=False, trials=False)
    (folder / "tune").symlink_to(outside, target_is_directory=True)
    done = run_cli("--output", str(folder), cwd=tmp_path)
    assert done.returncode == 1 and "cannot reach the Ray cluster" in done.stderr, done.stderr[-2000:]
    assert (outside / "data.txt").read_text() == "keep"
