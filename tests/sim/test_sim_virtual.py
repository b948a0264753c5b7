"""Virtual-time benchmark: the physics moves the right way, the numbers are reproducible and fast."""

import time

import pytest

from autotuner.sim.args import SimServerArgs
from autotuner.sim.memory import StartupFailure, plan_memory
from autotuner.sim.virtual import (
    LevelPrediction,
    evaluate_config,
    evaluate_level,
    finished_requests,
    percentile,
)

# Uneven lengths avoid the lock-step "waves" of D(...) at high concurrency, so comparisons
# between configs are not at the mercy of where a wave boundary falls.
MIXED = "N(1000,300)/(200,60)"


def args(**kw):
    kw.setdefault("sim_model", "Llama-3.1-8B")
    return SimServerArgs(**kw)


def test_the_finished_requests_are_the_levels_own_in_the_order_they_ended():
    level = evaluate_level(args(tp_size=2), "D(4096,256)", 12, 48)
    finished = finished_requests(args(tp_size=2), "D(4096,256)", 12, 48)
    ends = [end for end, *_ in finished]
    assert len(finished) == level.num_completed and ends == sorted(ends) and ends[-1] == level.duration_s
    assert percentile(sorted(ttft for _, ttft, *_ in finished), 90) == level.ttft_p90_s
    assert sum(out for *_, out, _ in finished) / level.duration_s == pytest.approx(level.output_tok_s)


def test_single_user_numbers_follow_the_step_times():
    p = evaluate_level(args(), "D(100,100)", 1, 20)
    assert p.num_completed == 20 and p.mean_output_tokens == 100 and p.mean_input_tokens == 100
    assert 0.006 < p.tpot_p50_s < 0.008
    assert 0.008 < p.ttft_p50_s < 0.030
    assert p.output_tok_s == pytest.approx(1 / p.tpot_p50_s, rel=0.12)
    assert p.tpot_p50_s <= p.tpot_p90_s <= p.tpot_p99_s and p.ttft_p50_s <= p.ttft_p90_s <= p.ttft_p99_s
    assert p.requests_per_s == pytest.approx(p.num_completed / p.duration_s)


def test_more_kv_memory_raises_throughput_until_startup_fails():
    out = {}
    for frac in (0.3, 0.4, 0.6, 0.85):
        out[frac] = evaluate_level(args(mem_fraction_static=frac), MIXED, 256, 1200).output_tok_s
    assert out[0.3] < out[0.4] < out[0.6] <= out[0.85] * 1.02
    assert out[0.85] > 1.15 * out[0.3]
    with pytest.raises(StartupFailure):
        evaluate_level(args(mem_fraction_static=0.96, chunked_prefill_size=16384, cuda_graph_max_bs=256),
                       MIXED, 256, 100)


def test_kv_limited_config_retracts():
    tight = evaluate_level(args(mem_fraction_static=0.25), "D(1000,200)", 256, 400)
    roomy = evaluate_level(args(), "D(1000,200)", 256, 400)
    assert tight.retractions > 0 and roomy.retractions == 0
    assert tight.mean_decode_batch < roomy.mean_decode_batch


def test_tensor_parallelism_lowers_tpot_of_a_large_model():
    tp1 = evaluate_level(SimServerArgs(sim_model="Qwen2.5-32B"), "D(500,100)", 4, 40)
    tp2 = evaluate_level(SimServerArgs(sim_model="Qwen2.5-32B", tp_size=2), "D(500,100)", 4, 40)
    assert tp2.tpot_p50_s < 0.8 * tp1.tpot_p50_s
    tp4 = evaluate_level(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=4), "D(500,100)", 4, 40)
    tp8 = evaluate_level(SimServerArgs(sim_model="Llama-3.1-70B", tp_size=8), "D(500,100)", 4, 40)
    assert tp8.tpot_p50_s < tp4.tpot_p50_s
    assert tp8.gpus == 8 and tp8.output_tok_s_per_gpu < tp4.output_tok_s_per_gpu  # TP costs efficiency


def test_data_parallelism_roughly_doubles_throughput_at_saturation():
    one = evaluate_level(args(), MIXED, 256, 1000)
    two = evaluate_level(args(dp_size=2), MIXED, 256, 1000)
    assert 1.6 < two.output_tok_s / one.output_tok_s < 2.3
    assert two.gpus == 2


def test_cuda_graphs_make_decoding_faster():
    on = evaluate_level(args(), "D(100,100)", 32, 200)
    off = evaluate_level(args(disable_cuda_graph=True), "D(100,100)", 32, 200)
    assert off.tpot_p50_s > 1.1 * on.tpot_p50_s and off.output_tok_s < on.output_tok_s
    # a batch above cuda_graph_max_bs runs eagerly too
    low_bs = evaluate_level(args(cuda_graph_max_bs=16), "D(100,100)", 32, 200)
    assert low_bs.tpot_p50_s > on.tpot_p50_s


def test_max_running_requests_trades_throughput_for_tpot_with_an_interior_optimum():
    slo_tpot_p90 = 0.025
    rows = {}
    for mrr in (8, 32, 96, 256):
        p = evaluate_level(args(max_running_requests=mrr), "D(1000,200)", 256, 600)
        rows[mrr] = p
    thr = {k: v.output_tok_s for k, v in rows.items()}
    assert thr[8] < thr[32] < thr[96]  # too few running requests caps throughput
    assert rows[8].tpot_p90_s < rows[96].tpot_p90_s < rows[256].tpot_p90_s  # batches slow every step
    assert rows[256].tpot_p90_s > slo_tpot_p90  # too many breaks the TPOT SLO
    feasible = {k: thr[k] for k, v in rows.items() if v.tpot_p90_s <= slo_tpot_p90}
    best = max(feasible, key=feasible.get)
    assert best not in (8, 256)


def test_mem_fraction_has_an_interior_optimum_for_8b_on_h100():
    def goodput(frac):
        try:
            return evaluate_level(args(mem_fraction_static=frac, chunked_prefill_size=16384, cuda_graph_max_bs=256),
                                  MIXED, 256, 800).output_tok_s
        except StartupFailure:
            return 0.0

    fracs = (0.3, 0.5, 0.7, 0.9, 0.97)
    g = [goodput(f) for f in fracs]
    best = fracs[g.index(max(g))]
    assert g[-1] == 0.0 and g[0] < max(g)
    assert best not in (fracs[0], fracs[-1])


def test_chunked_prefill_keeps_long_prompts_from_stalling_decodes():
    # a few long prompts among short chats: small chunks cap the decode stall per prefill step
    small = evaluate_level(args(chunked_prefill_size=1024, enable_mixed_chunk=True), "U(100,16000)/(100,300)", 16, 120)
    none = evaluate_level(args(chunked_prefill_size=-1, max_prefill_tokens=16384), "U(100,16000)/(100,300)", 16, 120)
    assert small.tpot_p90_s < none.tpot_p90_s


def test_same_seed_same_numbers_other_seed_slightly_different():
    a = evaluate_level(args(), MIXED, 64, 200, seed=3)
    b = evaluate_level(args(), MIXED, 64, 200, seed=3)
    c = evaluate_level(args(), MIXED, 64, 200, seed=4)
    d = evaluate_level(args(sim_seed=9), MIXED, 64, 200, seed=3)
    assert a == b
    assert a != c and a != d
    assert c.output_tok_s == pytest.approx(a.output_tok_s, rel=0.15)


def test_evaluate_config_sweeps_and_raises_on_startup_failure():
    levels = evaluate_config(args(), ["D(100,100)", "N(200,50)/(100,20)"], [1, 8], 16)
    assert [(p.scenario, p.concurrency) for p in levels] == [
        ("D(100,100)", 1), ("D(100,100)", 8), ("N(200,50)/(100,20)", 1), ("N(200,50)/(100,20)", 8)]
    assert all(isinstance(p, LevelPrediction) for p in levels)
    with pytest.raises(StartupFailure, match="Not enough memory"):
        evaluate_config(args(mem_fraction_static=0.1), ["D(100,100)"], [1], 10)


def test_to_level_result_carries_the_numbers():
    p = evaluate_level(args(), "D(100,100)", 4, 20)
    r = p.to_level_result()
    assert r.output_tok_s == p.output_tok_s and r.tpot_p90_s == p.tpot_p90_s and r.error_rate == 0.0
    assert r.num_completed == 20 and r.scenario == "D(100,100)" and r.concurrency == 4


def test_a_level_evaluates_in_milliseconds():
    plan = plan_memory(args())
    evaluate_level(args(), MIXED, 64, 100, plan=plan)  # warm caches
    start = time.perf_counter()
    for c in (1, 16, 64, 256):
        evaluate_level(args(), MIXED, c, 100, plan=plan)
    per_level = (time.perf_counter() - start) / 4
    assert per_level < 0.05, f"{per_level * 1e3:.1f} ms per level"


def test_fused_fast_path_agrees_with_step_by_step():
    a = args(sim_noise=0.0)
    fast = evaluate_level(a, "N(500,200)/(150,50)", 32, 150)
    slow = evaluate_level(a, "N(500,200)/(150,50)", 32, 150, max_fused_steps=1)
    for field in ("ttft_p50_s", "ttft_p90_s", "tpot_p50_s", "tpot_p90_s", "output_tok_s"):
        assert getattr(fast, field) == pytest.approx(getattr(slow, field), rel=0.01), field


def test_percentile_matches_numpy_linear():
    vals = [1.0, 2.0, 3.0, 4.0]
    assert percentile(vals, 50) == 2.5 and percentile(vals, 90) == pytest.approx(3.7)
    assert percentile([5.0], 99) == 5.0


def test_requests_that_cannot_fit_count_as_errors():
    some = evaluate_level(args(context_length=2048), "U(1000,4000)/(10,20)", 8, 100)
    assert 0 < some.num_errors < 100 and some.num_completed + some.num_errors == some.num_requests == 100
    r = some.to_level_result()
    assert r.error_rate == pytest.approx(some.num_errors / 100) and r.error_codes == {"400": some.num_errors}
    none = evaluate_level(args(context_length=2048), "D(5000,10)", 4, 20)
    assert none.num_completed == 0 and none.to_level_result().all_failed
