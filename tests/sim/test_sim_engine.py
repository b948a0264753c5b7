"""The scheduler core and the step-time model: batching, chunked prefill, retraction, CUDA graphs."""

import pytest

from autotuner.sim.args import SimServerArgs
from autotuner.sim.cost import StepCost
from autotuner.sim.engine import EngineCore, RequestRejected, SimRequest
from autotuner.sim.memory import plan_memory


def plan(**kw):
    kw.setdefault("sim_model", "Llama-3.1-8B")
    kw.setdefault("sim_noise", 0.0)
    return plan_memory(SimServerArgs(**kw))


def drain(core, now=0.0, max_steps=1):
    """Run until idle; returns the outcomes."""
    outs = []
    while (out := core.step(now, max_steps)) is not None:
        now += out.duration
        outs.append(out)
        assert len(outs) < 100_000
    return outs


def test_decode_step_times_are_realistic():
    ms = lambda p, b=1, ctx=500: StepCost(p).decode_seconds(b, b * ctx) * 1e3
    assert 6.0 < ms(plan()) < 8.0  # Llama-3.1-8B, one H100, small batch
    assert 15.0 <= ms(plan(sim_model="Llama-3.1-70B", tp_size=8)) <= 20.0
    assert 1.0 < ms(plan(sim_model="Llama-3.2-1B")) < 3.0
    # faster memory decodes faster; L40S is far slower
    assert ms(plan(sim_gpu="H200")) < ms(plan()) < ms(plan(sim_gpu="A100-80G")) < ms(plan(sim_gpu="L40S"))
    # bigger batches and longer contexts cost more per step, far less per token
    assert ms(plan(), b=64) > ms(plan(), b=1)
    assert ms(plan(), b=64) / 64 < ms(plan(), b=1) / 4
    assert ms(plan(), b=128, ctx=8000) > 1.5 * ms(plan(), b=128, ctx=500)


def test_tensor_parallelism_lowers_step_time_of_large_models():
    one = StepCost(plan(sim_model="Qwen2.5-32B")).decode_seconds(1, 500)
    two = StepCost(plan(sim_model="Qwen2.5-32B", tp_size=2)).decode_seconds(1, 500)
    assert two < 0.75 * one
    four = StepCost(plan(sim_model="Llama-3.1-70B", tp_size=4)).decode_seconds(1, 500)
    eight = StepCost(plan(sim_model="Llama-3.1-70B", tp_size=8)).decode_seconds(1, 500)
    assert eight < four
    # but not perfectly: all-reduce and per-layer costs do not shrink
    assert eight > 0.5 * four


def test_batch_above_cuda_graph_max_bs_is_slower():
    cost = StepCost(plan(cuda_graph_max_bs=64))
    inside, outside = cost.decode_seconds(64, 64 * 500), cost.decode_seconds(65, 65 * 500)
    assert outside - inside > 1e-3  # the eager overhead, far more than one more request's share
    no_graphs = StepCost(plan(disable_cuda_graph=True))
    assert no_graphs.decode_seconds(8, 4000) > cost.decode_seconds(8, 4000) * 1.15


def test_prefill_is_compute_bound_and_scales_with_tokens():
    cost = StepCost(plan())
    t1k = cost.prefill_seconds([(0, 1000)])
    t8k = cost.prefill_seconds([(0, 1000)] * 8)
    assert 0.015 < t1k < 0.040  # ~30-60k prompt tokens/s on an H100 for an 8B model
    assert 6 < t8k / t1k < 9


def test_single_request_lifecycle():
    core = EngineCore(plan())
    core.add(SimRequest("r", input_len=100, output_len=5))
    outs = drain(core)
    assert [o.kind for o in outs] == ["prefill"] + ["decode"] * 4
    assert outs[0].first_token == ["r"] and outs[-1].finished == ["r"]
    assert sum(o.tokens["r"] for o in outs) == 5
    assert core.kv_used == 0 and not core.has_work()


def test_chunked_prefill_bounds_each_prefill_step():
    core = EngineCore(plan(chunked_prefill_size=2048))
    core.add(SimRequest("long", input_len=10_000, output_len=2))
    outs = drain(core)
    prefills = [o for o in outs if o.kind == "prefill"]
    assert [o.prefill_tokens for o in prefills] == [2048] * 4 + [10_000 - 4 * 2048]
    assert all(not o.first_token for o in prefills[:-1]) and prefills[-1].first_token == ["long"]
    # without chunking the whole prompt goes in one step
    core = EngineCore(plan(chunked_prefill_size=-1))
    core.add(SimRequest("long", input_len=10_000, output_len=2))
    assert drain(core)[0].prefill_tokens == 10_000


def test_prefill_batch_respects_max_prefill_tokens():
    core = EngineCore(plan(chunked_prefill_size=-1, max_prefill_tokens=3000))
    for i in range(5):
        core.add(SimRequest(i, input_len=1000, output_len=2))
    first = core.step(0.0)
    assert first.kind == "prefill" and first.prefill_tokens == 3000 and len(first.first_token) == 3


def test_max_running_requests_caps_the_decode_batch():
    core = EngineCore(plan(max_running_requests=4))
    for i in range(10):
        core.add(SimRequest(i, input_len=50, output_len=20))
    outs = drain(core)
    assert max(o.batch_size for o in outs if o.kind == "decode") == 4
    assert sum(len(o.finished) for o in outs) == 10


def test_retraction_when_kv_runs_out():
    p = plan(mem_fraction_static=0.195)  # a few thousand KV tokens
    core = EngineCore(p)
    n = 40
    lengths = {i: 400 + (i * 37) % 800 for i in range(n)}  # long, uneven outputs
    for i in range(n):
        core.add(SimRequest(i, input_len=200, output_len=lengths[i]))
    outs = drain(core)
    assert core.stats.retractions > 0
    assert any(o.retracted for o in outs)
    finished = [rid for o in outs for rid in o.finished]
    assert sorted(finished) == list(range(n))  # everyone still completes, with all tokens
    for i in range(n):
        assert sum(o.tokens.get(i, 0) for o in outs) == lengths[i]
    assert core.kv_used == 0


def test_kv_never_exceeds_capacity():
    p = plan(mem_fraction_static=0.195)
    core = EngineCore(p)
    for i in range(30):
        core.add(SimRequest(i, input_len=300, output_len=300))
    while core.step(0.0) is not None:
        assert 0 <= core.kv_used <= core.capacity


def test_mixed_chunk_decodes_during_prefill():
    core = EngineCore(plan(enable_mixed_chunk=True))
    core.add(SimRequest("a", 100, 50))
    drain_until = core.step(0.0)  # prefill of a
    assert drain_until.kind == "prefill"
    core.add(SimRequest("b", 1000, 10))
    out = core.step(0.0)
    assert out.kind == "mixed" and out.tokens.get("a") == 1 and out.first_token == ["b"]


def test_requests_too_long_are_rejected_and_outputs_clamped():
    core = EngineCore(plan(context_length=4096))
    with pytest.raises(RequestRejected):
        core.add(SimRequest("x", input_len=5000, output_len=10))
    r = SimRequest("y", input_len=4000, output_len=1000)
    core.add(r)
    assert r.output_len == 4095 - 4000


def test_abort_frees_kv():
    core = EngineCore(plan())
    core.add(SimRequest("a", 500, 100))
    core.step(0.0)
    assert core.kv_used == 500
    assert core.abort("a") and core.kv_used == 0 and not core.has_work()
    assert not core.abort("missing")


def test_fused_decode_steps_match_single_steps():
    def run(max_steps):
        core = EngineCore(plan())
        for i in range(8):
            core.add(SimRequest(i, 100 + 50 * i, 30 + 10 * i))
        return drain(core, max_steps=max_steps)

    single, fused = run(1), run(1000)
    assert len(fused) < len(single) / 5
    t_single = sum(o.duration for o in single)
    t_fused = sum(o.duration for o in fused)
    assert t_fused == pytest.approx(t_single, rel=1e-4)
    order = lambda outs: [rid for o in outs for rid in o.finished]
    assert order(fused) == order(single)


def test_noise_is_seeded():
    def durations(seed):
        core = EngineCore(plan(sim_noise=0.05), seed=seed)
        core.add(SimRequest("a", 100, 20))
        return [o.duration for o in drain(core)]

    assert durations(1) == durations(1)
    assert durations(1) != durations(2)
    quiet = EngineCore(plan())
    quiet.add(SimRequest("a", 100, 20))
    base = [o.duration for o in drain(quiet)]
    assert sum(durations(3)) == pytest.approx(sum(base), rel=0.1)
