"""The Optuna define-by-run space built from a spec, and pre-deployment rejection."""

import pickle

import optuna
import yaml

from autotuner.flavors import FLAVORS
from autotuner.trial.feasibility import reject_reason, trial_gpus
from autotuner.task.space import SearchSpace, engine_args
from autotuner.task.load import require_valid
from tests.task.test_spec import ROOT


def quickstart():
    return require_valid(yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text()))


def test_space_samples_conditional_params_and_is_picklable():
    space = SearchSpace.from_spec(quickstart())
    space = pickle.loads(pickle.dumps(space))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    seen_with, seen_without = 0, 0
    for _ in range(40):
        trial = study.ask()
        assert space(trial) == {}
        p = trial.params
        assert 0.55 <= p["mem_fraction_static"] <= 0.95 and 4 <= p["max_running_requests"] <= 256
        assert isinstance(p["max_running_requests"], int)
        if p["disable_cuda_graph"]:
            assert "cuda_graph_max_bs" not in p
            seen_without += 1
        else:
            assert p["cuda_graph_max_bs"] in (8, 32, 64, 160, 256)
            seen_with += 1
        study.tell(trial, 1.0)
    assert seen_with and seen_without


def test_fixed_params_are_returned_as_constants():
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["engine"]["fixed"] = {"kv_cache_dtype": "fp8_e5m2"}
    space = SearchSpace.from_spec(require_valid(data))
    trial = optuna.create_study().ask()
    assert space(trial) == {"kv_cache_dtype": "fp8_e5m2"}


def test_engine_args_drops_non_engine_keys():
    assert engine_args({"tp_size": 2, "__trial_index__": 3}) == {"tp_size": 2}
    assert engine_args({"mem_fraction_static": 0.9199999999999999}) == {"mem_fraction_static": 0.92}


SGLANG, VLLM = FLAVORS.get("sglang"), FLAVORS.get("vllm")


def test_reject_reason():
    def reason(config, **kw):
        return reject_reason(config, flavor=SGLANG, **{"gpus_per_node": 8, "slots": 8, **kw})

    assert "exceeds the 8 GPUs" in reason({"tp_size": 4, "dp_size": 4}, slots=16)
    assert "4 GPU slots" in reason({"tp_size": 8}, slots=4)
    assert "attention heads" in reason({"tp_size": 3}, num_attention_heads=32)
    assert "weights need" in reason({"tp_size": 1}, params_billion=70, gpu_memory_gb=80)
    assert reason({"tp_size": 2}, num_attention_heads=32, params_billion=8, gpu_memory_gb=80) is None
    assert trial_gpus({"tp_size": 2, "dp_size": 2}, flavor=SGLANG, gpus_per_node=8, slots=4) == 4
    assert trial_gpus({"tp_size": 8}, flavor=SGLANG, gpus_per_node=8, slots=4) == 0


def test_reject_reason_asks_the_flavor_for_parallel_sizes_memory_and_start_up_rules():
    vllm = {"tensor_parallel_size": 4, "data_parallel_size": 4, "tp_size": 1}
    assert "tensor_parallel_size*data_parallel_size=16" in reject_reason(vllm, flavor=VLLM, gpus_per_node=8, slots=16)
    assert trial_gpus({"tensor_parallel_size": 2}, flavor=VLLM, gpus_per_node=8, slots=4) == 2
    assert "gpu_memory_utilization=0.5" in reject_reason({"gpu_memory_utilization": 0.5}, flavor=VLLM, gpus_per_node=8,
                                                         slots=8, params_billion=70, gpu_memory_gb=80)
    # SGLang's computed default memory fraction goes negative for a huge prefill chunk (recorded, H100)
    huge = {"chunked_prefill_size": 65536}
    assert "default mem_fraction_static is -0." in reject_reason(huge, flavor=SGLANG, gpus_per_node=8, slots=8,
                                                                   version="0.5.23", gpu="H100")
    assert reject_reason({**huge, "mem_fraction_static": 0.8}, flavor=SGLANG, gpus_per_node=8, slots=8,
                         version="0.5.23", gpu="H100") is None
    assert reject_reason({"chunked_prefill_size": 16384}, flavor=SGLANG, gpus_per_node=8, slots=8,
                         version="0.5.23", gpu="H100") is None
