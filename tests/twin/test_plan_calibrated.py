"""``autotuner plan --calibrate RUNS_FOLDER``: the twin fitted to a campaign's levels ranks the configs
it has not tried. The folder is written with the recorder's own row format (levels.parquet)."""

from __future__ import annotations

import json
import subprocess
import sys

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import LevelRow
from autotuner.sim import plan_memory
from autotuner.trial.report import TrialReport
from autotuner.twin.calibrate import measured_levels
from autotuner.twin.predict import Twin
from autotuner.sim.cost import StepCost
from autotuner.twin.steady import Calibration, SteadyLevelModel
from tests.twin.test_calibrate import CONFIGS, LOADS
from tests.twin.test_cli_plan import REPO
from tests.twin.test_guide import task

SLOWER = Calibration(decode=1.5, prefill=1.5)


def write_campaign(folder, spec):
    """levels.parquet of a campaign whose engine is 1.5x slower per step than the simulator."""
    twin = Twin(spec)
    rows = []
    for n, config in enumerate(CONFIGS):
        plan = plan_memory(twin.args(config))
        world = SteadyLevelModel(plan, StepCost(plan, SLOWER.scale))
        for i, load in enumerate(LOADS):
            level = world.level("D(128,32)", load, twin.sizing(load))
            report = TrialReport(level=i + 1, gpus=plan.gpus, score=0.0, feasible=False, violation=1.0, score_bound=None,
                                 boundary=(), status="running", reason="", done=False, measured=level,
                                 load_note="grow" if i else "start")
            rows.append(LevelRow.from_report(f"t{n}", config, report))
    folder.mkdir(parents=True)
    CampaignFolder(folder).write_levels(rows)


def test_measured_levels_read_back_what_the_recorder_wrote(tmp_path):
    write_campaign(tmp_path / "run", task())
    observations = measured_levels(tmp_path / "run")
    assert len(observations) == len(CONFIGS) * len(LOADS)
    config, level = observations[0]
    assert config == CONFIGS[0] and level.concurrency == LOADS[0] and level.num_completed > 0 and not level.ended_early


def test_plan_calibrate_ranks_untried_configs_with_the_fitted_twin(tmp_path):
    spec = task()
    write_campaign(tmp_path / "run", spec)
    (tmp_path / "task.yaml").write_text(json.dumps(spec.model_dump(mode="json")))
    done = subprocess.run([sys.executable, "-m", "autotuner.cli", "plan", str(tmp_path / "task.yaml"), "--json",
                           "--calibrate", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    calibration = data["calibration"]
    assert calibration["levels"] == len(CONFIGS) * len(LOADS)
    assert abs(calibration["calibration"]["decode"] - 1.5) < 0.25
    assert calibration["after"]["tpot_p90_s"] < calibration["before"]["tpot_p90_s"] / 3
    tried = [{**c} for c in CONFIGS]
    assert all(best["config"] not in tried for best in data["best"])
    assert all(best["model"] == "steady-state" for best in data["best"])


def test_plan_calibrate_without_levels_is_an_error(tmp_path):
    (tmp_path / "task.yaml").write_text(json.dumps(task().model_dump(mode="json")))
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, "-m", "autotuner.cli", "plan", str(tmp_path / "task.yaml"),
                           "--calibrate", str(tmp_path / "empty")], cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 1 and "no measured levels" in done.stderr


def test_a_campaign_records_how_far_the_twin_was_and_its_report_says_so(tmp_path):
    from autotuner.results.report import summary_text
    from autotuner.twin.calibrate import campaign_accuracy
    from serve_app.best import BestConfig
    from serve_app.pages.task import best_markdown

    spec = task()
    write_campaign(tmp_path / "run", spec)
    accuracy = campaign_accuracy(spec, tmp_path / "run")
    assert accuracy is not None and accuracy.levels == len(CONFIGS) * len(LOADS)
    assert accuracy.before["tpot_p90_s"] > 0.3 and accuracy.after["tpot_p90_s"] < 0.1
    assert abs(accuracy.calibration["decode"] - 1.5) < 0.25
    folder = CampaignFolder(tmp_path / "run")
    folder.write_twin(accuracy)
    assert folder.read_twin() == accuracy
    assert accuracy.line() in summary_text(tmp_path / "run")  # `autotuner report` and the end of `autotuner run`
    best = BestConfig("t0", 1.0, CONFIGS[0], 1, "sglang serve", final=True)
    assert "**twin:** twin (simulator" in best_markdown(best, accuracy)  # the web app's best-config box
