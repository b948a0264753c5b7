"""Start-up memory plan: the layout SGLang uses and the ways it fails."""

import pytest

from autotuner.sim.args import SimServerArgs
from autotuner.sim.memory import StartupFailure, plan_memory, startup_seconds


def args(**kw):
    kw.setdefault("sim_model", "Llama-3.1-8B")
    return SimServerArgs(**kw)


def test_default_8b_on_h100_plan_is_sglang_like():
    plan = plan_memory(args())
    d = plan.to_dict()
    # ~15 GiB of weights, ~420k KV tokens at SGLang's default 0.83 on an H100
    assert 14.5 < d["weights_gib"] < 15.5
    assert plan.args.mem_fraction_static == 0.83
    assert 400_000 < plan.kv_tokens < 450_000
    assert plan.headroom_bytes > 0 and plan.cuda_graph_max_bs == 256
    assert plan.static_bytes == plan.weight_bytes + plan.kv_pool_bytes


def test_more_mem_fraction_gives_more_kv_tokens():
    tokens = [plan_memory(args(mem_fraction_static=f)).kv_tokens for f in (0.5, 0.7, 0.9)]
    assert tokens[0] < tokens[1] < tokens[2]


def test_fp8_kv_cache_doubles_kv_capacity():
    bf16 = plan_memory(args(kv_cache_dtype="auto"))
    fp8 = plan_memory(args(kv_cache_dtype="fp8_e4m3"))
    assert fp8.kv_bytes_per_token * 2 == bf16.kv_bytes_per_token
    assert fp8.kv_tokens == pytest.approx(2 * bf16.kv_tokens, rel=0.001)


def test_too_low_mem_fraction_fails_like_sglang():
    with pytest.raises(StartupFailure) as err:
        plan_memory(args(mem_fraction_static=0.15))
    assert "Not enough memory. Please try to increase --mem-fraction-static" in err.value.message
    assert err.value.exit_code == 1 and err.value.phase == "kv_cache"
    assert err.value.after_s > 0  # it fails after loading the weights


def test_too_high_mem_fraction_fails_when_activations_or_graphs_do_not_fit():
    # fine with SGLang's defaults at 0.9 ...
    plan_memory(args(mem_fraction_static=0.9, chunked_prefill_size=16384, cuda_graph_max_bs=512))
    # ... but at 0.95 the 16k-token prefill activations no longer fit in the remaining 5%
    with pytest.raises(StartupFailure) as err:
        plan_memory(args(mem_fraction_static=0.95, chunked_prefill_size=16384, cuda_graph_max_bs=512))
    assert "CUDA out of memory" in err.value.message
    # smaller chunks and fewer graphs make the same fraction work
    plan_memory(args(mem_fraction_static=0.95, chunked_prefill_size=4096, cuda_graph_max_bs=64))
    # and with almost nothing left the CUDA graph capture itself fails with SGLang's hints
    with pytest.raises(StartupFailure) as err:
        plan_memory(args(mem_fraction_static=0.97, cuda_graph_max_bs=512))
    assert err.value.phase == "cuda_graph"
    assert "Capture cuda graph failed" in err.value.message and "--cuda-graph-max-bs" in err.value.message


def test_cuda_graph_memory_grows_with_max_bs_and_is_zero_when_disabled():
    small = plan_memory(args(cuda_graph_max_bs=32))
    big = plan_memory(args(cuda_graph_max_bs=512))
    off = plan_memory(args(disable_cuda_graph=True))
    assert big.cuda_graph_bytes > small.cuda_graph_bytes > 0 == off.cuda_graph_bytes
    assert off.capture_batch_sizes == () and off.cuda_graph_max_bs == 0
    assert len(big.capture_batch_sizes) > len(small.capture_batch_sizes)
    assert big.capture_batch_sizes[-1] == 512


def test_activations_grow_with_chunked_prefill_size():
    assert plan_memory(args(chunked_prefill_size=16384)).activation_bytes > \
        2 * plan_memory(args(chunked_prefill_size=4096)).activation_bytes * 0.99


def test_tp_must_divide_attention_heads():
    with pytest.raises(StartupFailure, match="divisible by tensor parallel size"):
        plan_memory(SimServerArgs(sim_model="Qwen2.5-7B", tp_size=8))  # 28 heads
    plan_memory(SimServerArgs(sim_model="Qwen2.5-7B", tp_size=4))


def test_more_gpus_than_a_node_fails():
    with pytest.raises(StartupFailure, match="node has 8 GPUs"):
        plan_memory(args(tp_size=8, dp_size=2))


def test_weights_that_do_not_fit_fail_and_tp_makes_them_fit():
    with pytest.raises(StartupFailure) as err:
        plan_memory(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=1))
    assert "CUDA out of memory" in err.value.message and err.value.phase == "load"
    with pytest.raises(StartupFailure, match="Not enough memory"):
        plan_memory(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=2, mem_fraction_static=0.8))
    assert plan_memory(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=4)).kv_tokens > 100_000


def test_bad_values_are_startup_failures():
    with pytest.raises(StartupFailure, match="the simulator models kv_cache_dtype"):
        plan_memory(args(kv_cache_dtype="fp4_e2m1"))  # SGLang takes it; the simulator has no fp4 model
    with pytest.raises(StartupFailure, match="served_model_name cannot contain a colon"):
        plan_memory(args(served_model_name="llama:8b"))  # SGLang's check_server_args
    with pytest.raises(StartupFailure, match="mem_fraction_static must be in"):
        plan_memory(args(chunked_prefill_size=65536))  # SGLang's computed default goes negative


def test_max_running_requests_default_and_explicit():
    assert plan_memory(args()).max_running_requests == 2048
    assert plan_memory(args(max_running_requests=48)).max_running_requests == 48
    # a tiny KV pool caps the default at half its tokens
    tiny = plan_memory(args(mem_fraction_static=0.195))
    assert tiny.kv_tokens < 4096 and tiny.max_running_requests == tiny.kv_tokens // 2


def test_startup_time_models_load_and_graph_capture():
    p8 = plan_memory(args())
    p70 = plan_memory(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=8))
    assert 8 < startup_seconds(p8) < 40
    assert startup_seconds(p70) > startup_seconds(p8) + 20  # 140 GB of weights to read
    no_graphs = plan_memory(args(disable_cuda_graph=True))
    many = plan_memory(args(cuda_graph_max_bs=512))
    assert startup_seconds(no_graphs) < startup_seconds(p8) < startup_seconds(many)
    assert p8.startup_s == startup_seconds(p8)
