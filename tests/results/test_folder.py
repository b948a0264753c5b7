"""Campaign tables, best-config selection and the files written for the winner."""

import json
import shlex

from autotuner.bench.result import LevelResult
from autotuner.flavors import FLAVORS
from autotuner.results.folder import CampaignFolder, read_rows
from autotuner.results.records import BestAnswer, CampaignMeta, CampaignStatus, LevelRow, TrialRecord, TrialStatus, pick_best, pick_remeasured
from autotuner.trial.directive import Phase
from autotuner.trial.report import TrialReport


def result(level, score):
    measured = LevelResult("D(100,100)", 2 ** level, num_requests=8, num_completed=8, num_errors=0, error_rate=0.0,
                           duration_s=10.0, output_tok_s=100.0 * level, input_tok_s=50.0, requests_per_s=0.8,
                           ttft_p90_s=0.1, tpot_p90_s=0.01)
    return TrialReport(level=level, gpus=1, score=score, feasible=True, violation=0.0, score_bound=None, boundary=(),
                       status="running", reason="", measured=measured, meets_slo=True)


def test_pick_best_prefers_complete_feasible_trials():
    trials = [TrialRecord("a", {"tp_size": 1}, status=TrialStatus.STOPPED_EARLY, score=900, feasible=True),
              TrialRecord("b", {"tp_size": 1}, status=TrialStatus.DONE, score=500, feasible=True),
              TrialRecord("c", {"tp_size": 1}, status=TrialStatus.DONE, score=0, feasible=False),
              TrialRecord("d", {"tp_size": 1}, status=TrialStatus.FAILED, score=0, feasible=False),
              TrialRecord("e", {"tp_size": 1}, phase=Phase.REMEASURE, status=TrialStatus.DONE, score=5000, feasible=True)]
    assert pick_best(trials).trial_id == "b"
    assert pick_best(trials[:1]).trial_id == "a"
    assert pick_best(trials[2:]) is None  # infeasible trials and re-measurements are not the search's best


def test_pick_remeasured_takes_the_best_mean_of_configs_that_met_the_slos():
    trials = [TrialRecord("r1", {}, phase=Phase.REMEASURE, remeasured_mean=900.0, remeasured_repeats=3, remeasured_passed=2),
              TrialRecord("r2", {}, phase=Phase.REMEASURE, remeasured_mean=None, remeasured_repeats=3, remeasured_passed=0),
              TrialRecord("r3", {}, phase=Phase.REMEASURE, remeasured_mean=950.0, remeasured_repeats=3, remeasured_passed=3),
              TrialRecord("s", {}, score=2000.0, feasible=True, status=TrialStatus.DONE)]
    assert pick_remeasured(trials).trial_id == "r3"
    assert pick_remeasured(trials[1:2] + trials[3:]) is None


def test_tables_round_trip_and_best_files(tmp_path):
    cfg = {"tp_size": 2, "mem_fraction_static": 0.85, "schedule_policy": "lpm", "disable_cuda_graph": False}
    levels = [LevelRow.from_report("t1", cfg, result(1, 100.0)), LevelRow.from_report("t1", cfg, result(2, 200.0))]
    assert levels[0].to_row()["param.tp_size"] == 2 and json.loads(levels[0].to_row()["config_json"]) == cfg
    rec = TrialRecord("t1", cfg, status=TrialStatus.DONE, gpus=2, levels_run=2, score=200.0, feasible=True, best_level=2,
                      boundary={"D(100,100)": 4})
    folder = CampaignFolder(tmp_path)
    folder.write_levels(levels)
    folder.write_trials([rec])
    folder.write_meta(CampaignMeta(name="x"))
    meta, trials, rows = folder.load()
    assert trials[0].config == cfg and trials[0].score == 200.0 and rows == levels
    assert trials[0].boundary == {"D(100,100)": 4} and trials[0].phase == "search"
    sglang = FLAVORS.get("sglang")
    launch = sglang.launch_command("/models/m'; rm -rf /", cfg, sglang.newest_version(), served_model_name="m")
    best = BestAnswer.of(trials[0], rows, launch_command=launch, objective_unit="tok/s/GPU")
    folder.write_best(best)
    argv = shlex.split((tmp_path / "best_launch_command.txt").read_text())
    assert argv[:3] == ["python", "-m", "sglang.launch_server"]
    assert argv[argv.index("--model-path") + 1] == "/models/m'; rm -rf /"  # quoted, one argument
    assert "--tp-size" in argv and not any(a.startswith("--cuda-graph-backend") for a in argv)
    assert json.loads((tmp_path / "best_config.json").read_text())["engine_args"] == cfg
    assert best.levels[1].level == 2 and folder.read_best() == best


def test_old_campaign_json_and_best_config_read_and_keep_what_they_do_not_know():
    meta = CampaignMeta.from_json({"started": 100.0, "ray_job_id": "raysubmit_9", "status": "finished",
                                   "future_field": 1})  # written before runs were listed, or by a newer version
    assert meta.status is CampaignStatus.FINISHED and meta.job_ids == ("raysubmit_9",) and meta.resumes == ()
    assert meta.to_json()["future_field"] == 1 and CampaignMeta.from_json(meta.to_json()) == meta
    best = BestAnswer.from_json({"trial_id": "t", "score": 1.0, "score_unit": "tok/s", "status": "done",
                                 "engine_args": {"tp_size": 1}, "gpus": 1, "launch_command": ["x"],
                                 "launch_command_line": "x", "remeasured": {"mean": 2.0, "repeats": 3}})
    assert best.remeasured.text() == "mean 2 over 3 repeats" and best.levels == [] and best.engine_notes == []


def test_read_rows_missing_file(tmp_path):
    assert read_rows(tmp_path / "nope.parquet") == []
