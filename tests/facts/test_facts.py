"""The GPU and model facts, and the fit rules written once over them."""

import pytest

from autotuner.facts.fit import divides_heads, fits_node, size_facts, weight_bytes_per_gpu, weights_fit
from autotuner.facts.gpus import GPUS, resolve_gpu
from autotuner.facts.models import MODELS, resolve_model


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


def test_hopper_is_what_the_attention_defaults_ask():
    assert GPUS["H100"].hopper and GPUS["H200"].hopper
    assert not GPUS["A100-80G"].hopper and not GPUS["L40S"].hopper


def test_fit_rules():
    assert fits_node(4, 2, 8) and not fits_node(4, 4, 8)
    assert divides_heads(32, 8) and not divides_heads(28, 8) and divides_heads(None, 3)
    # 70B in bf16 is ~141 GB: not on one 80 GB GPU, fine on four
    weights = MODELS["Llama-3.1-70B"].num_params
    assert not weights_fit(weight_bytes_per_gpu(weights, 1), GPUS["H100"].memory_bytes, 0.9)
    assert weights_fit(weight_bytes_per_gpu(weights, 4), GPUS["H100"].memory_bytes, 0.9)


def test_size_facts_prefer_the_given_values_and_know_the_tables():
    known = size_facts("meta-llama/Llama-3.1-8B-Instruct", "H200")
    assert (known.num_attention_heads, round(known.params_billion, 2)) == (32, 8.03)
    assert known.gpu_memory_gb == pytest.approx(143771 * 2**20 / 1e9)
    given = size_facts("my-own-model", "B200", num_attention_heads=40, params_billion=13)
    assert (given.num_attention_heads, given.params_billion, given.gpu_memory_gb) == (40, 13, None)
