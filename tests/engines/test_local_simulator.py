"""The local backend with the simulated engine, loaded by real genai-bench."""

import json
import urllib.request

import pytest

from autotuner.bench.genai_bench import GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.request import LevelRequest
from autotuner.engines.base import DeployRequest
from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine

pytestmark = pytest.mark.integration


def test_simulator_trial_end_to_end(tmp_path, tokenizer_dir):
    engine = LocalProcessEngine(LocalEngineSettings(
        command="simulator", sim_gpu="H100", sim_model="Llama-3.1-8B", sim_startup_scale=0.1,
        tokenizer_path=str(tokenizer_dir), ready_timeout_s=120))
    request = DeployRequest("c1", "t1", {"mem_fraction_static": 0.85}, "sim-llama", tmp_path / "trial")

    with engine.deploy(request) as server:
        with urllib.request.urlopen(server.base_url + "/v1/models", timeout=5) as response:
            assert "sim-llama" in [m["id"] for m in json.load(response)["data"]]
        bench = GenaiBenchLevels(GenaiBenchSettings(str(tokenizer_dir)), tmp_path / "trial")
        bench.connect(server.base_url, server.served_model_name)
        try:
            level = bench.run_level(LevelRequest("D(100,50)", 2, 10))
        finally:
            bench.close()
        assert server.check_alive() is None

    assert (level.concurrency, level.num_errors) == (2, 0)
    assert level.output_tok_s > 0 and level.mean_output_tokens == pytest.approx(50)
