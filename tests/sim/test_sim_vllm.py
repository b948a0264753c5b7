"""vLLM's memory plan and scheduling over the shared core, and SGLang's fp8_e5m2 -> triton switch."""

import math

import pytest

from autotuner.facts.gpus import GPUS
from autotuner.sim.args import SimServerArgs
from autotuner.sim.cost import StepCost
from autotuner.sim.memory import StartupFailure, plan_memory
from autotuner.sim.virtual import evaluate_level


def vllm(**kw):
    kw.setdefault("sim_model", "Llama-3.1-8B")
    return SimServerArgs(engine="vllm", **kw)


def test_gpu_memory_utilization_is_a_share_of_the_whole_gpu_for_everything():
    plan = plan_memory(vllm(gpu_memory_utilization=0.9))
    assert plan.static_bytes == math.ceil(GPUS["H100"].memory_bytes * 0.9)
    assert plan.kv_pool_bytes == (plan.static_bytes - plan.weight_bytes - plan.activation_bytes
                                  - plan.runtime_reserve_bytes - plan.cuda_graph_bytes)
    assert plan.headroom_bytes == plan.free_bytes - plan.static_bytes
    assert plan.kv_tokens % 16 == 0 and plan.kv_tokens * plan.kv_bytes_per_token <= plan.kv_pool_bytes
    assert plan.max_running_requests == 1024  # the recorded H100 default for `vllm serve`
    # the same share leaves less KV than SGLang's mem_fraction_static, which counts weights + KV only
    assert plan.kv_tokens < plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", mem_fraction_static=0.9)).kv_tokens


def test_more_utilization_more_kv_and_graphs_count_in_the_budget():
    tokens = [plan_memory(vllm(gpu_memory_utilization=u)).kv_tokens for u in (0.6, 0.75, 0.9)]
    assert tokens[0] < tokens[1] < tokens[2]
    eager = plan_memory(vllm(disable_cuda_graph=True))
    graphs = plan_memory(vllm())
    assert eager.cuda_graph_bytes == 0 < graphs.cuda_graph_bytes
    assert eager.kv_pool_bytes - graphs.kv_pool_bytes == graphs.cuda_graph_bytes


def test_block_size_rounds_the_pool_to_whole_blocks():
    plan = plan_memory(vllm(block_size=32))
    assert plan.kv_tokens % 32 == 0
    assert plan.kv_pool_bytes - plan.kv_tokens * plan.kv_bytes_per_token < 32 * plan.kv_bytes_per_token


@pytest.mark.parametrize("kw,message", [
    (dict(gpu_memory_utilization=0.999), "Free memory on device cuda:0"),
    (dict(gpu_memory_utilization=0.2), "No available memory for the cache blocks"),
    (dict(gpu_memory_utilization=0.3), "To serve at least one request with the model's max seq len (131072)"),
    (dict(chunked_prefill_size=-1, max_prefill_tokens=4096), "max_num_batched_tokens (4096) is smaller than "
                                                             "max_model_len (131072)"),
    (dict(max_running_requests=512, max_prefill_tokens=256), "must be greater than or equal to max_num_seqs (512)"),
])
def test_vllm_start_up_failures_carry_vllms_error(kw, message):
    with pytest.raises(StartupFailure) as err:
        plan_memory(vllm(**kw))
    assert message in err.value.message


def test_a_shorter_max_model_len_lets_a_small_share_start():
    assert plan_memory(vllm(gpu_memory_utilization=0.3, context_length=8192)).kv_tokens >= 8192


def test_chunked_prefill_off_takes_the_model_length_as_token_budget():
    r = vllm(chunked_prefill_size=-1).resolved()
    assert r.max_prefill_tokens == 131072 and not r.chunked_prefill_enabled


def test_vllm_serves_a_level_in_virtual_time():
    level = evaluate_level(vllm(sim_noise=0), "D(512,128)", 16, 64)
    sglang = evaluate_level(SimServerArgs(sim_model="Llama-3.1-8B", sim_noise=0), "D(512,128)", 16, 64)
    assert level.num_completed == 64 and level.max_running_requests == 1024
    # same physics: per-token latency within 25% of SGLang's on the same GPU and model
    assert level.tpot_p50_s == pytest.approx(sglang.tpot_p50_s, rel=0.25)


def test_no_kv_reservation_admits_more_then_preempts():
    """vLLM admits on the prompt alone; with a small pool it preempts where SGLang waits."""
    small = dict(sim_model="Llama-3.1-8B", sim_noise=0, context_length=4096)
    v = evaluate_level(vllm(gpu_memory_utilization=0.3, **small), "D(1024,1024)", 64, 128)
    s = evaluate_level(SimServerArgs(mem_fraction_static=0.256, **small), "D(1024,1024)", 64, 128)
    assert v.kv_tokens == pytest.approx(s.kv_tokens, rel=0.02)  # the same pool ...
    assert v.mean_decode_batch > s.mean_decode_batch and v.retractions > 3 * s.retractions  # ... used differently


def decode_ms(gpu: str, kv_cache_dtype: str) -> float:
    plan = plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", sim_gpu=gpu, kv_cache_dtype=kv_cache_dtype))
    return StepCost(plan).decode_seconds(batch=64, kv_tokens=64 * 4096) * 1e3


def prefill_ms(gpu: str, kv_cache_dtype: str) -> float:
    plan = plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", sim_gpu=gpu, kv_cache_dtype=kv_cache_dtype))
    return StepCost(plan).prefill_seconds([(0, 8192)]) * 1e3


def test_fp8_e5m2_on_hopper_runs_triton_attention_slower_than_fp8_e4m3():
    e5m2 = plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", kv_cache_dtype="fp8_e5m2"))
    assert e5m2.args.attention_backend == "triton" and "Setting attention backend to triton" in e5m2.to_dict()["notes"][0]
    assert plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", kv_cache_dtype="fp8_e4m3")).args.attention_backend == "fa3"
    # same bytes per token, slower kernel: decode at long context and long prefill both pay
    assert decode_ms("H100", "fp8_e5m2") > 1.03 * decode_ms("H100", "fp8_e4m3")
    assert prefill_ms("H100", "fp8_e5m2") > 1.05 * prefill_ms("H100", "fp8_e4m3")
    # before Hopper there is no FA3 to switch from: both run FlashInfer
    assert decode_ms("A100-80G", "fp8_e5m2") == decode_ms("A100-80G", "fp8_e4m3")
