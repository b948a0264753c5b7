"""Prefix caches (SGLang's radix tree, vLLM's hashed blocks) and how the scheduler core uses them."""

import pytest

from autotuner.sim.args import SimServerArgs
from autotuner.sim.engine import EngineCore, SimRequest
from autotuner.sim.memory import plan_memory
from autotuner.sim.prefix_cache import BlockHashCache, RadixCache, make_prefix_cache


# --- the caches alone -----------------------------------------------------------------------------
def test_radix_matches_the_longest_cached_prefix_token_by_token():
    c = RadixCache()
    assert c.insert(c.key([1, 2, 3, 4, 5]), 5) == 5
    assert c.insert(c.key([1, 2, 3, 7]), 4) == 1  # shares 1,2,3: only the 7 is new
    assert c.size == c.evictable == 6
    assert c.match(c.key([1, 2, 3, 4, 9]), 10) == 4
    assert c.match(c.key([1, 2, 3, 7, 8]), 10) == 4
    assert c.match(c.key([1, 2, 3, 4, 5]), 3) == 3  # at most the limit
    assert c.match(c.key([2, 1]), 2) == 0


def test_radix_locked_paths_survive_eviction_and_lru_goes_first():
    c = RadixCache()
    c.insert(c.key([1, 2, 3]), 3)
    c.insert(c.key([1, 2, 9]), 3)
    c.insert(c.key([5, 6]), 2)  # most recently used
    held = c.lock(c.key([1, 2, 3]), 3)
    assert c.evictable == 3  # [9] and [5, 6]
    assert c.evict(1) == 1  # the least recently used leaf: [9]
    assert c.match(c.key([1, 2, 9]), 3) == 2 and c.match(c.key([5, 6]), 2) == 2
    assert c.evict(100) == 2 and c.size == 3  # only the locked path is left
    c.unlock(held)
    assert c.evictable == 3 and c.evict(100) == 3 and c.size == 0


def test_block_hash_caches_full_blocks_only_and_chains_their_hashes():
    b = BlockHashCache(block_size=4)
    assert b.insert(b.key(list(range(10))), 10) == 8  # two full blocks; the 2 tokens left are not cached
    assert b.match(b.key([*range(8), 99, 98, 97, 96]), 12) == 8
    assert b.match(b.key([*range(6), 50, 51]), 8) == 4  # second block differs
    assert b.match(b.key([0, 1, 2, 3] * 2), 8) == 4  # same tokens later in the prompt: another hash
    assert b.match(b.key(list(range(8))), 7) == 4  # a limit inside a block drops that block
    held = b.lock(b.key(list(range(8))), 8)
    assert b.evict(100) == 0
    b.unlock(held)
    assert b.evict(4) == 4 and b.match(b.key(list(range(8))), 8) == 4  # the tail block went first


def test_unknown_cache_kind_is_refused():
    with pytest.raises(ValueError, match="radix, block_hash"):
        make_prefix_cache("lru", 1)


# --- the scheduler core -----------------------------------------------------------------------------
PREFIX = tuple(range(1000, 3000))  # a 2,000-token system prompt


def core(**kw):
    kw.setdefault("sim_model", "Llama-3.1-8B")
    kw.setdefault("sim_noise", 0.0)
    return EngineCore(plan_memory(SimServerArgs(**kw)))


def request(i, suffix=100, out=4):
    tokens = PREFIX + tuple(range(-(i + 1) * 10_000, -(i + 1) * 10_000 + suffix))
    return SimRequest(i, len(tokens), out, tokens=tokens)


def run(c, reqs, now=0.0):
    for r in reqs:
        c.add(r)
    ttft, busy = {}, 0.0
    while (out := c.step(now)) is not None:
        now += out.duration
        busy += out.duration
        for rid in out.first_token:
            ttft[rid] = now
    return ttft, busy


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_a_cached_prefix_is_not_prefilled_again(engine):
    on, off = core(engine=engine), core(engine=engine, disable_radix_cache=True)
    run(on, [request(0)])
    run(off, [request(0)])
    t_on, _ = run(on, [request(1)])
    t_off, _ = run(off, [request(1)])
    # vLLM caches whole 16-token blocks: 2000 of the prefix (2000 = 125 x 16)
    assert on.stats.cached_prompt_tokens == 2000
    assert off.stats.cached_prompt_tokens == 0
    assert on.stats.prefill_tokens == off.stats.prefill_tokens - 2000
    assert t_on[1] < 0.5 * t_off[1]


def test_cached_tokens_stay_in_the_pool_until_evicted():
    c = core()
    run(c, [request(0)])
    assert c.kv_used == c.prefix_cache.size == 2100 and c.prefix_cache.evictable == 2100
    assert c.kv_free == c.capacity - 2100 and c._room() == c.capacity  # evictable counts as room


def test_the_cache_competes_with_running_requests_for_the_pool():
    # a small pool: 20 distinct prompts of 2,100 tokens cannot all stay cached
    c = core(mem_fraction_static=0.2)
    distinct = [SimRequest(i, 2100, 4, tokens=tuple(range(i * 10_000, i * 10_000 + 2100))) for i in range(60)]
    run(c, distinct)
    assert c.prefix_cache.size <= c.capacity
    assert c.kv_used == c.prefix_cache.size  # nothing runs: only cached prompts hold slots
    assert c.prefix_cache.size < 60 * 2100  # older prompts were evicted to make room


def test_lpm_puts_cached_prefixes_first_and_defers_shared_uncached_ones():
    c = core(schedule_policy="lpm")
    run(c, [request(0)])  # caches the prefix
    cold = SimRequest("cold", 500, 4, tokens=tuple(range(-5_000_000, -5_000_000 + 500)))
    twin_a = SimRequest("a", 600, 4, tokens=tuple(range(7_000_000, 7_000_600)))
    twin_b = SimRequest("b", 600, 4, tokens=tuple(range(7_000_000, 7_000_500)) + tuple(range(100)))
    warm = request(5)
    for r in (cold, twin_a, twin_b, warm):
        c.add(r)
    order = [r.rid for r in c._ordered_waiting()]
    # warm matches 2,000 cached tokens; b shares its first 500 with a, waiting before it: last
    assert order == [5, "cold", "a", "b"]


def test_lpm_falls_back_to_arrival_order_on_a_long_queue_or_without_the_cache():
    c = core(schedule_policy="lpm")
    run(c, [request(0)])
    reqs = [SimRequest(f"u{i}", 50, 4, tokens=tuple(range(-(i + 1) * 1000, -(i + 1) * 1000 + 50))) for i in range(128)]
    for r in [*reqs, request(1)]:
        c.add(r)
    assert c._ordered_waiting()[0].rid == "u0"  # 129 waiting: fcfs
    assert core(schedule_policy="lpm", disable_radix_cache=True).policy == "fcfs"


def test_requests_without_token_ids_never_touch_the_cache():
    c = core()
    run(c, [SimRequest(i, 2000, 4) for i in range(3)])
    assert c.prefix_cache.size == 0 and c.kv_used == 0 and c.stats.cached_prompt_tokens == 0


def test_aborting_a_request_unlocks_its_prefix():
    c = core()
    run(c, [request(0)])
    r = request(1, out=1000)
    c.add(r)
    c.step(0.0)  # admitted with the prefix locked
    assert r.cached >= 2000 and c.prefix_cache.evictable < c.prefix_cache.size
    assert c.abort(1)
    assert c.prefix_cache.evictable == c.prefix_cache.size and c.kv_used == c.prefix_cache.size


# --- the virtual clock: genai-bench's shared prefix ---------------------------------------------------
def test_shared_prefix_in_virtual_time_cuts_ttft_and_raises_throughput():
    from autotuner.sim.scenario import SharedPrefix
    from autotuner.sim.virtual import evaluate_level

    prefix = SharedPrefix(length=2000)
    args = dict(sim_model="Llama-3.1-8B", sim_gpu="H100", sim_noise=0.0)
    on = evaluate_level(SimServerArgs(**args), "D(2200,200)", 64, 192, prefix=prefix)
    off = evaluate_level(SimServerArgs(**args, disable_radix_cache=True), "D(2200,200)", 64, 192, prefix=prefix)
    assert off.cached_prompt_tokens == 0 and on.cached_prompt_tokens > 150 * 2000
    assert on.ttft_p90_s < 0.5 * off.ttft_p90_s and on.output_tok_s > 1.5 * off.output_tok_s
    # without a shared prefix the prompts carry no ids: the cache changes nothing
    plain = [evaluate_level(SimServerArgs(**args, disable_radix_cache=flag), "D(2200,200)", 64, 192)
             for flag in (False, True)]
    assert plain[0].to_dict() == plain[1].to_dict()


def test_prefix_ratio_shares_int_of_each_prompt():
    from autotuner.sim.scenario import SharedPrefix

    half = SharedPrefix(ratio=0.5)
    assert half.tokens_for(101) == 50
    assert half.prompt(101, 0)[:50] == half.prompt(100, 7)[:50] != half.prompt(120, 0)[:50]
    with pytest.raises(ValueError, match="exactly one"):
        SharedPrefix(length=3, ratio=0.5)
