"""The answer shows what the engine changes behind a flag (best_config.json, the report)."""

import json

import yaml

from autotuner.results.report import summary_text
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import BestAnswer, CampaignMeta, TrialRecord, TrialStatus
from autotuner.task.load import require_valid
from tests.conftest import REPO


def test_report_and_best_config_show_the_fp8_e5m2_attention_backend_switch(tmp_path):
    spec = require_valid(yaml.safe_load((REPO / "examples/local-sglang-h100.yaml").read_text()))
    config = {"tp_size": 1, "kv_cache_dtype": "fp8_e5m2"}
    best = TrialRecord("t1", config, status=TrialStatus.DONE, gpus=1, levels_run=1, score=10.0, feasible=True)
    folder = CampaignFolder(tmp_path)
    folder.write_trials([best])
    folder.write_meta(CampaignMeta(name="x"))
    folder.write_best(BestAnswer.of(best, [], launch_command=spec.launch_command(config), objective_unit="tok/s",
                                    engine_notes=spec.behaviour_notes(config)))
    note = "kv_cache_dtype=fp8_e5m2: on H100 SGLang switches its attention backend from fa3 to triton"
    assert json.loads((tmp_path / "best_config.json").read_text())["engine_notes"] == [note]
    assert f"engine note: {note}" in summary_text(tmp_path)
