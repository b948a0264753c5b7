"""Issue 25 item 10: a campaign that cannot answer says so (the CLI, and so a Ray job, exits
non-zero with the reason); the report calls a stopped trial stopped early, not infeasible; the
launch command found on the simulator says so."""

import os
import subprocess
import sys

import pytest
import yaml

from autotuner.results.answer import launch_command_comment, why_no_answer
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, TrialRecord, TrialStatus
from autotuner.results.report import trials_table
from autotuner.task.load import require_valid
from tests.conftest import REPO
from tests.campaign.test_campaign import GOOD, small_task


def test_the_reason_there_is_no_answer():
    failed = [TrialRecord("a", {}, status=TrialStatus.FAILED), TrialRecord("b", {}, status=TrialStatus.REJECTED)]
    assert why_no_answer(failed).startswith("every trial failed or was rejected (2 trials: 1 failed, 1 rejected)")
    slow = [TrialRecord("a", {}, status=TrialStatus.DONE, score=0.0), TrialRecord("b", {}, status=TrialStatus.FAILED)]
    assert why_no_answer(slow).startswith("no config met the SLOs at any load (2 trials: 1 done, 1 failed)")


def test_a_trial_stopped_before_meeting_the_slos_is_not_called_infeasible():
    rows = trials_table([TrialRecord("stopped1", {}, status=TrialStatus.STOPPED_EARLY, score=0.0, feasible=False),
                         TrialRecord("slow1", {}, status=TrialStatus.DONE, score=0.0, feasible=False)]).splitlines()
    assert "stopped early" in rows[1] and "infeasible" not in rows[1]
    assert "infeasible" in rows[2]


def test_the_launch_command_found_on_the_simulator_says_so(tmp_path):
    spec = require_valid(small_task(tmp_path))
    best = TrialRecord("t1", GOOD, status=TrialStatus.DONE, gpus=1, score=1.0, feasible=True)
    CampaignFolder(tmp_path).write_best(BestAnswer.of(best, [], launch_command=spec.launch_command(GOOD),
                                                      objective_unit="tok/s", launch_comment=launch_command_comment(spec)))
    comment, command = (tmp_path / "best_launch_command.txt").read_text().splitlines()
    assert comment.startswith("# found on the simulator") and "SGLang" in comment
    assert command.startswith("python -m sglang.launch_server")
    real = spec.model_copy(update={"engine": spec.engine.model_copy(update={
        "local": spec.engine.local.model_copy(update={"command": ["python", "-m", "sglang.launch_server"]})})})
    assert launch_command_comment(real) is None


@pytest.mark.integration
def test_a_campaign_whose_slos_no_config_meets_exits_non_zero_with_the_reason(tmp_path):
    task = small_task(tmp_path, trials=2)
    task["search"]["initial_configs"] = [GOOD]
    task["objective"]["slo"]["ttft_p90_s"] = 0.001  # 1 ms: no config of the simulator meets it
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    done = subprocess.run([sys.executable, "-m", "autotuner.cli", "run", str(task_file)], capture_output=True,
                          text=True, env={**os.environ, "RAY_ADDRESS": ""}, cwd=REPO, timeout=400)
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
    assert "status: finished" in done.stdout
    error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert error == [error[0]] and "no answer: no config met the SLOs at any load (2 trials" in error[0], done.stderr
