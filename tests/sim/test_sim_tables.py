"""Hardware and model tables, name resolution, and SGLang-style argument parsing."""

import pytest

from autotuner.engines.flavors import get_flavor
from autotuner.sim.args import SimServerArgs, parse_argv
from autotuner.sim.hardware import GPUS, resolve_gpu
from autotuner.sim.models import MODELS, resolve_model
from autotuner.sim.scenario import parse_scenario


def test_gpu_table_has_the_four_gpus_with_datasheet_figures():
    assert {"H100", "H200", "A100-80G", "L40S"} <= set(GPUS)
    h100, h200, a100, l40s = (GPUS[n] for n in ("H100", "H200", "A100-80G", "L40S"))
    assert h100.hbm_bandwidth == 3.35e12 and h100.bf16_flops == 989e12 and h100.supports_fp8
    assert h200.memory_bytes > h100.memory_bytes and h200.hbm_bandwidth > h100.hbm_bandwidth
    assert not a100.supports_fp8 and a100.bf16_flops == 312e12
    assert l40s.interconnect == "pcie" and l40s.interconnect_bandwidth < h100.interconnect_bandwidth / 10
    for gpu in GPUS.values():
        assert 0.5 < gpu.bandwidth_fraction < 1 and 0.3 < gpu.flops_fraction < 1
        # all-reduce gets slower with more ranks and bigger messages
        assert gpu.allreduce_seconds(1e6, 8) > gpu.allreduce_seconds(1e6, 2) > gpu.allreduce_seconds(1e3, 2) > 0
        assert gpu.allreduce_seconds(1e6, 1) == 0


def test_resolve_gpu_is_case_insensitive_and_lists_known_names():
    assert resolve_gpu("h100").name == "H100"
    assert resolve_gpu("a100-80g").name == "A100-80G"
    with pytest.raises(KeyError, match="H100"):
        resolve_gpu("TPU-v5")


@pytest.mark.parametrize("name", ["Llama-3.2-1B", "Llama-3.1-8B", "Qwen2.5-32B", "Llama-3.1-70B"])
def test_model_shapes_give_the_published_parameter_counts(name):
    m = MODELS[name]
    assert m.computed_params == pytest.approx(m.num_params, rel=0.01)
    assert m.q_dim == m.num_attention_heads * m.head_dim


@pytest.mark.parametrize("alias", ["meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-8B", "llama-3.1-8b",
                                   "meta-llama/Meta-Llama-3.1-8B-Instruct", "/models/Llama-3.1-8B-Instruct/"])
def test_resolve_model_accepts_hf_ids_table_names_and_folders(alias):
    assert resolve_model(alias).name == "Llama-3.1-8B"


def test_resolve_model_unknown_raises_keyerror_listing_names():
    with pytest.raises(KeyError) as err:
        resolve_model("gpt-5")
    assert "Llama-3.1-70B" in str(err.value)


def test_kv_bytes_per_token_formula_and_fp8():
    m = MODELS["Llama-3.1-70B"]
    assert m.kv_bytes_per_token(tp=8, dtype_bytes=2) == 2 * 80 * 1 * 128 * 2
    assert m.kv_bytes_per_token(tp=1, dtype_bytes=1) * 2 == m.kv_bytes_per_token(tp=1, dtype_bytes=2)
    # more tp than KV heads: heads are replicated, never fewer than one per GPU
    assert MODELS["Qwen2.5-7B"].kv_heads_per_gpu(8) == 1


def test_every_tuner_parameter_is_accepted_with_sglang_spelling():
    config = {"tp_size": 2, "dp_size": 2, "mem_fraction_static": 0.85, "max_running_requests": 96,
              "chunked_prefill_size": 4096, "max_prefill_tokens": 8192, "schedule_policy": "lpm",
              "schedule_conservativeness": 1.3, "cuda_graph_max_bs": 64, "disable_cuda_graph": True,
              "kv_cache_dtype": "fp8_e5m2", "enable_mixed_chunk": True, "disable_radix_cache": True}
    sglang = get_flavor("sglang")
    assert set(config) == set(sglang.params(sglang.newest_version())), "test must cover every tunable parameter"
    flags = sglang.config_argv(config, sglang.newest_version())
    args = parse_argv(["--model-path", "/tok", "--sim-model", "Llama-3.1-8B", *flags])
    for name, value in config.items():
        assert getattr(args, name) == value, name


def test_parse_argv_defaults_sim_flags_and_aliases():
    a = parse_argv(["--tp", "4", "--sim-gpu", "L40S", "--sim-startup-scale", "0", "--sim-noise", "0",
                    "--chunked-prefill-size", "-1", "--port", "1234", "--trust-remote-code"])
    assert (a.tp_size, a.sim_gpu, a.sim_startup_scale, a.sim_noise, a.port) == (4, "L40S", 0.0, 0.0, 1234)
    assert not a.chunked_prefill_enabled
    d = parse_argv([])
    assert (d.tp_size, d.dp_size, d.max_prefill_tokens, d.schedule_policy, d.kv_cache_dtype) == (1, 1, 16384, "fcfs", "auto")
    assert not d.disable_cuda_graph and d.sim_gpu == "H100" and d.sim_seed == 0
    with pytest.raises(SystemExit):
        parse_argv(["--no-such-flag"])


def test_resolved_defaults_follow_sglang():
    r = SimServerArgs(model_path="meta-llama/Llama-3.1-70B-Instruct", tp_size=8).resolved()
    assert r.sim_model == "Llama-3.1-70B" and r.mem_fraction_static == 0.81
    assert r.chunked_prefill_size == 8192 and r.served_model_name == "meta-llama/Llama-3.1-70B-Instruct"
    assert SimServerArgs().resolved().mem_fraction_static == pytest.approx(0.88)
    assert SimServerArgs(sim_gpu="L40S").resolved().chunked_prefill_size < 8192
    # a tokenizer folder as model path: the model comes from --sim-model, else the default
    assert SimServerArgs(model_path="/tmp/tok").resolved().sim_model == "Llama-3.1-8B"


@pytest.mark.parametrize("text,kind", [("D(100,100)", "D"), ("N(480,240)/(300,150)", "N"),
                                       ("U(50,100)/(20,40)", "U"), ("U(100,200)", "U")])
def test_scenarios_parse_and_sample_like_genai_bench(text, kind):
    import random

    s = parse_scenario(text)
    assert s.kind == kind
    rng = random.Random(1)
    samples = [s.sample(rng) for _ in range(2000)]
    assert all(i >= 1 and o >= 1 for i, o in samples)
    mean_in = sum(i for i, _ in samples) / len(samples)
    assert mean_in == pytest.approx(s.mean_input, rel=0.05)
    if kind == "U" and text == "U(50,100)/(20,40)":
        assert all(50 <= i < 100 and 20 <= o < 40 for i, o in samples)


def test_unsupported_scenario_is_rejected():
    with pytest.raises(ValueError, match="D\\(in,out\\)"):
        parse_scenario("E(1024)")
