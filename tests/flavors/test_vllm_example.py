"""examples/quickstart-vllm.yaml: valid, its answer is a `vllm serve` line and an InferenceService
that owns the vLLM command line (stock vLLM runtimes keep theirs in runner.args, which an
InferenceService's args would replace)."""

from __future__ import annotations

import shlex

import yaml

from autotuner.engines.base import DeployRequest
from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine
from autotuner.flavors.option_table import check_argv, load_table
from autotuner.results.best_manifest import best_inference_service
from autotuner.k8s.schema import recorded_crd
from autotuner.task.load import require_valid
from tests.conftest import REPO

EXAMPLE = REPO / "examples/quickstart-vllm.yaml"


def spec():
    return require_valid(yaml.safe_load(EXAMPLE.read_text()))


def test_same_workload_slos_and_budget_as_the_sglang_quickstart():
    vllm, sglang = spec(), require_valid(yaml.safe_load((REPO / "examples/quickstart.yaml").read_text()))
    assert (vllm.engine.flavor, sglang.engine.flavor) == ("vllm", "sglang")
    for part in ("objective", "budget", "remeasure", "seed"):
        assert getattr(vllm, part) == getattr(sglang, part), part
    assert vllm.workload.model_copy(update={"api_backend": "sglang"}) == sglang.workload
    assert (vllm.model, vllm.engine.gpu) == (sglang.model, sglang.engine.gpu)


def test_its_launch_command_is_vllm_serve_and_vllms_parser_accepts_it():
    task = spec()
    config = task.search.initial_configs[0]
    line = shlex.join(task.launch_command(config))
    assert line.startswith("vllm serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 8000 "
                           "--served-model-name llama-3.1-8b --tensor-parallel-size 1 --gpu-memory-utilization 0.9")
    assert check_argv(load_table("vllm", task.engine.version), shlex.split(line)[2:]) == []


def test_its_ome_manifest_owns_the_vllm_command_line():
    task = spec()
    config = task.search.initial_configs[0]
    isvc = best_inference_service(task, config, "quickstart-vllm-abc", "t1")
    assert recorded_crd("InferenceService").validate(isvc) == []
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"] == ["vllm", "serve", "$(MODEL_PATH)", "--host", "0.0.0.0", "--port", "8080"]
    assert runner["args"][:2] == ["--tensor-parallel-size", "1"] and "--served-model-name" in runner["args"]
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # what the container runs: vLLM's parser accepts it (the kubelet expands $(MODEL_PATH))
    argv = [a.replace("$(MODEL_PATH)", "/mnt/models") for a in runner["command"][2:] + runner["args"]]
    assert check_argv(load_table("vllm", task.engine.version), argv) == []


def test_the_simulator_is_told_the_flavor_and_gets_vllms_server_argv(tmp_path):
    task = spec()
    settings = LocalEngineSettings(flavor="vllm", version=task.engine.version, model_path=task.model.name,
                                   python="py", sim_model=task.model.name)
    argv = LocalProcessEngine(settings).command_for(
        DeployRequest("c", "t", task.search.initial_configs[0], "llama-3.1-8b", tmp_path), 9000)
    sim_options, server = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    assert sim_options[3:7] == ["--sim-engine", "vllm", "--sim-engine-version", "0.33.0"]
    assert server[:3] == ["meta-llama/Llama-3.1-8B-Instruct", "--host", "127.0.0.1"]
    assert check_argv(load_table("vllm", "0.33.0"), server) == []


def test_a_vllm_trial_on_ome_sets_the_command_and_its_flags(tmp_path):
    from autotuner.engines.ome import InferenceServiceEngine, OmeEngineSettings

    engine = InferenceServiceEngine(OmeEngineSettings(namespace="autotune", model_name="llama-3-1-8b-instruct",
                                                      runtime_name="vllm-llama-3-1-8b-instruct", flavor="vllm"))
    config = {"tensor_parallel_size": 2, "enable_prefix_caching": False}
    isvc = engine.manifest(DeployRequest("cmp", "t1", config, "llama", tmp_path))
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"][:3] == ["vllm", "serve", "$(MODEL_PATH)"]
    assert runner["args"] == ["--tensor-parallel-size", "2", "--no-enable-prefix-caching", "--served-model-name", "llama"]
    assert runner["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert recorded_crd("InferenceService").validate(isvc) == []
