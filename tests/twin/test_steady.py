"""The steady-state fast path against the discrete-event simulator it stands in for, level by level."""

from __future__ import annotations

import pytest

from autotuner.sim import SimServerArgs, evaluate_level, plan_memory
from autotuner.sim.scenario import SharedPrefix
from autotuner.twin.steady import SteadyLevelModel

SCENARIO = "D(128,32)"


def both(args: SimServerArgs, load: int, requests: int):
    plan = plan_memory(args)
    return SteadyLevelModel(plan).level(SCENARIO, load, requests), evaluate_level(args, SCENARIO, load, requests, plan=plan)


@pytest.mark.parametrize("load", [1, 8, 64, 256])
@pytest.mark.parametrize("args", [
    SimServerArgs(sim_model="Llama-3.1-8B", max_running_requests=64, chunked_prefill_size=8192, cuda_graph_max_bs=160),
    SimServerArgs(sim_model="Llama-3.1-8B", tp_size=2, chunked_prefill_size=1024, disable_cuda_graph=True),
    SimServerArgs(sim_model="Llama-3.1-8B", max_running_requests=4),
], ids=["graphs", "tp2-eager-small-chunks", "mrr4"])
def test_level_matches_the_simulator(args, load):
    fast, full = both(args, load, 3 * load)
    assert fast.output_tok_s == pytest.approx(full.output_tok_s, rel=0.05)
    assert fast.ttft_p90_s == pytest.approx(full.ttft_p90_s, rel=0.1)
    assert fast.tpot_p90_s == pytest.approx(full.tpot_p90_s, rel=0.05)


def test_more_users_than_running_requests_queue_for_whole_waves():
    model = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", max_running_requests=8)))
    at_8, at_9, at_16 = (model.level(SCENARIO, c, 3 * c) for c in (8, 9, 16))
    assert at_9.output_tok_s == pytest.approx(at_8.output_tok_s, rel=0.15)  # the batch is full either way
    assert at_16.ttft_p90_s > at_8.ttft_p90_s + 0.1  # half the users wait for a whole wave
    assert at_16.tpot_p90_s == pytest.approx(at_8.tpot_p90_s, rel=0.01)  # waiting is not decoding


def test_a_prompt_longer_than_the_context_fails_every_request():
    model = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", context_length=1024)))
    level = model.level("D(2000,10)", 4, 12)
    assert level.all_failed and level.error_rate == 1.0 and level.num_errors == 12


PREFIX = SharedPrefix(length=2000)


# Loads up to the batch the KV pool holds (45 requests with the prefix cached, 9 without): beyond
# it, the fast path's whole waves are up to ~25% off the scheduler's mixing (it only screens).
@pytest.mark.parametrize("cache, load", [({}, 4), ({}, 32), ({"disable_radix_cache": True}, 4),
                                         ({"disable_radix_cache": True}, 8), ({"engine": "vllm", "context_length": 8192}, 4),
                                         ({"engine": "vllm", "context_length": 8192}, 32)],
                         ids=["radix-4", "radix-32", "cache-off-4", "cache-off-8", "vllm-blocks-4", "vllm-blocks-32"])
def test_a_shared_prefix_matches_the_simulator(cache, load):
    args = SimServerArgs(sim_model="Qwen2.5-32B", sim_gpu="H100", mem_fraction_static=0.84, **cache)
    plan = plan_memory(args)
    fast = SteadyLevelModel(plan, prefix=PREFIX).level("D(2300,150)", load, 3 * load)
    full = evaluate_level(args, "D(2300,150)", load, 3 * load, plan=plan, prefix=PREFIX)
    assert fast.output_tok_s == pytest.approx(full.output_tok_s, rel=0.05)
    assert fast.ttft_p90_s == pytest.approx(full.ttft_p90_s, rel=0.1)
    assert fast.tpot_p90_s == pytest.approx(full.tpot_p90_s, rel=0.05)


def test_the_cached_prefix_is_what_the_engine_keeps():
    radix = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B")), prefix=PREFIX)
    blocks = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", engine="vllm")), prefix=PREFIX)
    off = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", disable_radix_cache=True)), prefix=PREFIX)
    assert (radix.cached_tokens(2300), radix.cached_tokens(2000), blocks.cached_tokens(2000), off.cached_tokens(2300)) \
        == (2000, 1999, 1984, 0)
    assert SteadyLevelModel(radix.plan).cached_tokens(2300) == 0  # no shared prefix
