"""Campaign tables, best-config selection and the files written for the winner."""

import json
import shlex

from autotuner.bench.result import LevelResult
from autotuner.flavors import FLAVORS
from autotuner.results.folder import (DONE, FAILED, REMEASURE, STOPPED_EARLY, TrialRecord, level_row, load_campaign,
                               pick_best, pick_remeasured, read_rows, write_best, write_parquet)
from autotuner.trial.report import TrialReport


def result(level, score):
    measured = LevelResult("D(100,100)", 2 ** level, num_requests=8, num_completed=8, num_errors=0, error_rate=0.0,
                           duration_s=10.0, output_tok_s=100.0 * level, input_tok_s=50.0, requests_per_s=0.8,
                           ttft_p90_s=0.1, tpot_p90_s=0.01)
    return TrialReport(level=level, gpus=1, score=score, feasible=True, violation=0.0, score_bound=None, boundary=(),
                       status="running", reason="", measured=measured, meets_slo=True)


def test_pick_best_prefers_complete_feasible_trials():
    trials = [TrialRecord("a", {"tp_size": 1}, status=STOPPED_EARLY, score=900, feasible=True),
              TrialRecord("b", {"tp_size": 1}, status=DONE, score=500, feasible=True),
              TrialRecord("c", {"tp_size": 1}, status=DONE, score=0, feasible=False),
              TrialRecord("d", {"tp_size": 1}, status=FAILED, score=0, feasible=False),
              TrialRecord("e", {"tp_size": 1}, phase=REMEASURE, status=DONE, score=5000, feasible=True)]
    assert pick_best(trials).trial_id == "b"
    assert pick_best(trials[:1]).trial_id == "a"
    assert pick_best(trials[2:]) is None  # infeasible trials and re-measurements are not the search's best


def test_pick_remeasured_takes_the_best_mean_of_configs_that_met_the_slos():
    trials = [TrialRecord("r1", {}, phase=REMEASURE, remeasured_mean=900.0, remeasured_repeats=3, remeasured_passed=2),
              TrialRecord("r2", {}, phase=REMEASURE, remeasured_mean=None, remeasured_repeats=3, remeasured_passed=0),
              TrialRecord("r3", {}, phase=REMEASURE, remeasured_mean=950.0, remeasured_repeats=3, remeasured_passed=3),
              TrialRecord("s", {}, score=2000.0, feasible=True, status=DONE)]
    assert pick_remeasured(trials).trial_id == "r3"
    assert pick_remeasured(trials[1:2] + trials[3:]) is None


def test_tables_round_trip_and_best_files(tmp_path):
    cfg = {"tp_size": 2, "mem_fraction_static": 0.85, "schedule_policy": "lpm", "disable_cuda_graph": False}
    levels = [level_row("t1", cfg, result(1, 100.0)), level_row("t1", cfg, result(2, 200.0))]
    assert levels[0]["param.tp_size"] == 2 and json.loads(levels[0]["config_json"]) == cfg
    rec = TrialRecord("t1", cfg, status=DONE, gpus=2, levels_run=2, score=200.0, feasible=True, best_level=2,
                      boundary={"D(100,100)": 4})
    write_parquet(tmp_path / "levels.parquet", levels)
    write_parquet(tmp_path / "trials.parquet", [rec.to_row()])
    (tmp_path / "campaign.json").write_text(json.dumps({"name": "x"}))
    meta, trials, rows = load_campaign(tmp_path)
    assert trials[0].config == cfg and trials[0].score == 200.0 and len(rows) == 2
    assert trials[0].boundary == {"D(100,100)": 4} and trials[0].phase == "search"
    sglang = FLAVORS.get("sglang")
    launch = sglang.launch_command("/models/m'; rm -rf /", cfg, sglang.newest_version(), served_model_name="m")
    data = write_best(tmp_path, trials[0], rows, launch_command=launch, objective_unit="tok/s/GPU")
    argv = shlex.split((tmp_path / "best_launch_command.txt").read_text())
    assert argv[:3] == ["python", "-m", "sglang.launch_server"]
    assert argv[argv.index("--model-path") + 1] == "/models/m'; rm -rf /"  # quoted, one argument
    assert "--tp-size" in argv and not any(a.startswith("--cuda-graph-backend") for a in argv)
    assert json.loads((tmp_path / "best_config.json").read_text())["engine_args"] == cfg
    assert data["levels"][1]["level"] == 2


def test_read_rows_missing_file(tmp_path):
    assert read_rows(tmp_path / "nope.parquet") == []
