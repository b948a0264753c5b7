"""The scheduler core shared by both clocks and both engines: continuous batching on one replica.

One :class:`EngineCore` is one scheduler (one dp replica over tp GPUs), modelled on SGLang's; vLLM
runs on the same core with mixed chunking always on (decodes and prefill chunks share one token
budget) and no KV reserved for outputs at admission (``kv_reservation=False``). Each call to
:meth:`EngineCore.step` picks the next batch the way SGLang's event loop does and returns what
that forward pass produced and how long it took; the caller owns the clock (``asyncio.sleep`` in
the HTTP server, a plain float in virtual time).

Scheduling follows ``sglang.srt.managers.scheduler`` / ``schedule_policy.PrefillAdder``:

* prefill has priority: whenever waiting requests fit, a prefill batch runs and decoding waits
  (unless ``enable_mixed_chunk`` folds the running requests' decode into that pass);
* a prefill batch holds at most ``chunked_prefill_size`` and ``max_prefill_tokens`` new tokens;
  a longer prompt is split and continues in the next prefill steps;
* admission reserves KV for the running requests' future tokens times ``new_token_ratio``
  (starts at 0.7 x ``schedule_conservativeness``, decays every decode step) and the new request's
  full ``max_tokens``; once a batch is found full nothing is admitted until a request leaves;
* at most ``max_running_requests`` decode together;
* when a decode step has no free KV slot for every running request, requests are retracted
  (fewest generated tokens first) back to the waiting queue and later re-prefilled.

Prefixes are cached on the prompts' token ids (:mod:`autotuner.sim.prefix_cache`: SGLang's radix
tree, vLLM's hashed blocks; ``disable_radix_cache`` turns it off):

* at admission a request's prompt is matched (at most all but its last token, as both engines
  keep one token to compute); the matched tokens are not prefilled, only the rest counts against
  the chunk and prefill budgets;
* once prefilled, the prompt is inserted into the cache and stays locked while the request runs;
  cached tokens no request holds are evictable: they count as free at admission and are evicted
  (least recently used first) when a prefill chunk or a decode step needs slots;
* ``lpm`` orders the waiting queue by match length (SGLang's ``SchedulePolicy``), putting last
  the requests whose prefix another waiting request shares (in-batch prefix caching: the first
  computes it, the others reuse it), and falls back to ``fcfs`` above 128 waiting requests or
  with the cache off. ``dfs-weight`` is not modelled and keeps arrival order.

Requests without token ids (the virtual clock's prompts without a shared prefix) skip the cache.

>>> from autotuner.sim.args import SimServerArgs
>>> from autotuner.sim.memory import plan_memory
>>> core = EngineCore(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B", sim_noise=0)))
>>> core.add(SimRequest("a", input_len=100, output_len=3))
>>> [(o.kind, o.tokens) for o in iter(lambda: core.step(0.0), None)]
[('prefill', {'a': 1}), ('decode', {'a': 1}), ('decode', {'a': 1})]
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from autotuner.sim.cost import CostScale, StepCost
from autotuner.sim.memory import MemoryPlan
from autotuner.sim.prefix_cache import PrefixCache, RadixCache, prefix_cache_for

CLIP_MAX_NEW_TOKENS = 4096  # SGLang caps the per-request KV reservation estimate at this
RETRACT_DECODE_STEPS = 20  # after a retraction, keep room for this many steps of every request
MIN_NEW_TOKEN_RATIO_FACTOR = 0.14
NEW_TOKEN_RATIO_DECAY_STEPS = 600
# Time from the HTTP request to the scheduler's queue (tokenizer manager + ZMQ hop) in SGLang.
ADMISSION_LATENCY_S = 0.002
# SGLang's schedule_policy: lpm sorts at most this many waiting requests (more: fcfs), and
# defers a request whose first tokens (this many) another waiting request already has.
LPM_MAX_QUEUE = 128
IN_BATCH_PREFIX_THRESHOLD = 32


class RequestRejected(ValueError):
    """The request can never run (prompt longer than the context or the KV pool). HTTP 400."""


@dataclass(eq=False)
class SimRequest:
    """One generation request, as token counts. Progress fields are the engine's."""

    rid: Any
    input_len: int
    output_len: int  # max_tokens (genai-bench sends ignore_eos, so exactly this many come out)
    arrival: float = 0.0
    generated: int = 0  # output tokens emitted so far
    kv: int = 0  # this request's tokens in the KV pool
    target: int = 0  # tokens that must be cached before the next token can be sampled
    retractions: int = 0
    tokens: Sequence[int] | None = None  # the prompt's token ids (None: unique, never cached)
    cached: int = 0  # of this request's ``kv``, the tokens held (locked) in the prefix cache
    cache_key: Any = None  # the prompt prepared by the prefix cache
    cache_lock: Any = None

    @property
    def remaining(self) -> int:
        return self.output_len - self.generated


@dataclass
class StepOutcome:
    """What one forward pass (or ``steps`` fused identical decode passes) produced."""

    kind: str  # "prefill" | "decode" | "mixed"
    duration: float  # seconds, noise included
    steps: int = 1
    batch_size: int = 0  # requests in the pass
    prefill_tokens: int = 0
    tokens: dict[Any, int] = field(default_factory=dict)  # rid -> tokens emitted
    first_token: list[Any] = field(default_factory=list)  # rids whose first token this is
    finished: list[Any] = field(default_factory=list)
    retracted: list[Any] = field(default_factory=list)


@dataclass
class EngineStats:
    prefill_steps: int = 0
    decode_steps: int = 0
    busy_s: float = 0.0
    retractions: int = 0
    decode_batch_sum: int = 0  # sum of batch sizes over decode steps (mean = / decode_steps)
    max_batch: int = 0
    prefill_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens found in the prefix cache at admission (not prefilled)


class EngineCore:
    """One replica's scheduler and KV pool; deterministic given ``seed``."""

    def __init__(self, plan: MemoryPlan, *, seed: int = 0, noise: float | None = None,
                 track_tokens: bool = True, cost_scale: CostScale = CostScale()):
        a = plan.args
        self.plan = plan
        self.cost = StepCost(plan, cost_scale)
        self.capacity = plan.kv_tokens
        self.max_running = plan.max_running_requests
        self.chunk: int | None = int(a.chunked_prefill_size) if a.chunked_prefill_enabled else None
        self.max_prefill = a.max_prefill_tokens
        self.mixed = bool(a.enable_mixed_chunk) and self.chunk is not None
        self.prefix_cache: PrefixCache | None = prefix_cache_for(a)
        # SGLang turns a cache-aware policy into fcfs when the radix cache is off.
        self.policy = "fcfs" if self.prefix_cache is None and a.schedule_policy == "lpm" else a.schedule_policy
        self.max_req_len = min(int(a.context_length or plan.model.max_context), self.capacity) - 1
        self.init_ratio = min(1.0, 0.7 * a.schedule_conservativeness)
        self.min_ratio = self.init_ratio * MIN_NEW_TOKEN_RATIO_FACTOR
        self.ratio_decay = (self.init_ratio - self.min_ratio) / NEW_TOKEN_RATIO_DECAY_STEPS
        self.new_token_ratio = self.init_ratio
        # SGLang reserves KV for (clipped) outputs to come at admission; vLLM reserves none and
        # preempts when a step finds no free slot (the flavor sets kv_reservation).
        self.reserve_cap = CLIP_MAX_NEW_TOKENS if a.kv_reservation is not False else 0
        self.noise = a.sim_noise if noise is None else noise
        self.rng = random.Random(seed)
        self.policy_rng = random.Random(seed + 1)
        self.waiting: list[SimRequest] = []
        self.running: list[SimRequest] = []
        self.chunked: SimRequest | None = None
        self.kv_used = 0
        self.batch_full = False
        self.stats = EngineStats()
        self.max_output_len = 0
        self.track_tokens = track_tokens  # False: StepOutcome.tokens stays empty (virtual clock)

    # --- queue ----------------------------------------------------------------------------------
    def add(self, req: SimRequest) -> None:
        """Queue a request. Output is clamped to the room left (SGLang trims max_new_tokens)."""
        if req.input_len < 1 or req.output_len < 1:
            raise RequestRejected("input and output lengths must be >= 1")
        if req.input_len >= self.max_req_len:
            raise RequestRejected(
                f"The input ({req.input_len} tokens) is longer than the model's context length or "
                f"KV pool ({self.max_req_len + 1} tokens).")
        req.output_len = min(req.output_len, self.max_req_len - req.input_len)
        req.target = req.input_len + req.generated
        if req.tokens is not None and self.prefix_cache is not None and req.cache_key is None:
            req.cache_key = self.prefix_cache.key(req.tokens)
        self.max_output_len = max(self.max_output_len, req.output_len)
        self.waiting.append(req)

    def warm(self, tokens: Sequence[int]) -> None:
        """Start with ``tokens`` cached and held by no request, as an earlier request leaves them."""
        cache = self.prefix_cache
        if cache is not None and len(tokens) < self.capacity // 2:
            self.kv_used += cache.insert(cache.key(tokens), len(tokens))

    def abort(self, rid: Any) -> bool:
        """Drop a request wherever it is (client went away) and free its KV slots."""
        for queue in (self.waiting, self.running):
            for i, r in enumerate(queue):
                if r.rid == rid:
                    del queue[i]
                    self._release(r)
                    self.batch_full = False
                    return True
        if self.chunked is not None and self.chunked.rid == rid:
            self._release(self.chunked)
            self.chunked = None
            self.batch_full = False
            return True
        return False

    def has_work(self) -> bool:
        return bool(self.waiting or self.running or self.chunked)

    @property
    def kv_free(self) -> int:
        return self.capacity - self.kv_used

    @property
    def kv_held(self) -> int:
        """Slots requests hold: cached prefixes no request holds count as free, as both engines
        report them (SGLang's num_used_tokens, vLLM's kv_cache_usage_perc)."""
        return self.capacity - self._room()

    def _room(self) -> int:
        """Slots a new token can take: free ones and cached ones no request holds."""
        cache = self.prefix_cache
        return self.capacity - self.kv_used + (cache.evictable if cache is not None else 0)

    # --- KV slots and the prefix cache --------------------------------------------------------
    def _alloc(self, n: int) -> None:
        """Take ``n`` slots, evicting unheld cached prefixes first when too few are free."""
        short = n - (self.capacity - self.kv_used)
        if short > 0 and self.prefix_cache is not None:
            self.kv_used -= self.prefix_cache.evict(short)
        self.kv_used += n

    def _release(self, r: SimRequest) -> None:
        """The request leaves the pool: its own slots are freed, its cached prefix is unlocked
        (it stays cached, evictable once no other request holds it)."""
        self.kv_used -= r.kv - r.cached
        if r.cache_lock is not None:
            assert self.prefix_cache is not None
            self.prefix_cache.unlock(r.cache_lock)
            r.cache_lock = None
        r.kv = r.cached = 0

    def _match(self, r: SimRequest) -> int:
        """Prompt tokens of a waiting request already cached (all but the last at most)."""
        if r.cache_key is None or self.prefix_cache is None:
            return 0
        return self.prefix_cache.match(r.cache_key, r.input_len - 1)

    def _pin(self, r: SimRequest, hit: int) -> int:
        """Admit the first ``hit`` cached prompt tokens into ``r``'s KV; returns how many of them
        were evictable until now (undone by :meth:`_release` when ``r`` is not admitted)."""
        if not hit:
            return 0
        cache = self.prefix_cache
        assert cache is not None
        evictable = cache.evictable
        self._hold(r, hit)
        r.kv = hit
        return evictable - cache.evictable

    def _hold(self, r: SimRequest, n: int) -> None:
        """Lock the first ``n`` cached prompt tokens for ``r`` (instead of what it held)."""
        cache = self.prefix_cache
        assert cache is not None
        old, r.cache_lock, r.cached = r.cache_lock, cache.lock(r.cache_key, n), n
        if old is not None:
            cache.unlock(old)

    def _cache_prompt(self, r: SimRequest) -> None:
        """After a prefill chunk: the prompt computed so far joins the cache (SGLang's
        cache_unfinished_req, vLLM's cache_blocks); slots duplicating cached tokens are freed."""
        if r.cache_key is None or self.prefix_cache is None:
            return
        n = self.prefix_cache.cacheable(min(r.kv, r.input_len))
        if n <= r.cached:
            return
        added = self.prefix_cache.insert(r.cache_key, n)
        self.kv_used -= (n - r.cached) - added
        self._hold(r, n)

    # --- one step -------------------------------------------------------------------------------
    def step(self, now: float = 0.0, max_decode_steps: int = 1, horizon: float | None = None) -> StepOutcome | None:
        """Run the next batch starting at ``now``; None when there is nothing to do.

        ``max_decode_steps > 1`` lets a decode pass stand for several identical steps (virtual
        time): it stops early at the first finish, before KV runs out, and, when a request could
        be admitted, at the first step boundary at or after ``horizon`` (the next arrival).
        """
        out = self._prefill()
        if out is None and self.running:
            out = self._decode(now, max(1, max_decode_steps), horizon)
        if out is None and self.waiting:
            self.batch_full = False  # nothing runs, so nothing can free memory: try again
            out = self._prefill()
            if out is None:
                raise RuntimeError("simulator scheduler stalled with requests waiting (bug)")
        if out is None:
            self.new_token_ratio = self.init_ratio  # SGLang re-inits when idle
            return None
        self.stats.busy_s += out.duration
        self.stats.max_batch = max(self.stats.max_batch, out.batch_size)
        return out

    def _noisy(self, seconds: float, sum_sq: float | None = None, steps: int = 1) -> float:
        """Multiplicative lognormal noise per step (mean 1); fused steps get the matching sum."""
        if self.noise <= 0:
            return seconds
        if steps == 1:
            return seconds * math.exp(self.rng.gauss(0.0, self.noise) - self.noise ** 2 / 2)
        spread = self.noise * math.sqrt(sum_sq if sum_sq is not None else seconds ** 2 / steps)
        return max(0.5 * seconds, seconds + spread * self.rng.gauss(0.0, 1.0))

    def _ordered_waiting(self) -> list[SimRequest]:
        if self.policy == "random":
            self.policy_rng.shuffle(self.waiting)
        elif self.policy == "lpm" and len(self.waiting) <= LPM_MAX_QUEUE:
            self._sort_longest_prefix()
        return self.waiting  # fcfs (and dfs-weight, not modelled): arrival order

    def _sort_longest_prefix(self) -> None:
        """SGLang's lpm: longest cached prefix first; a request with a short match whose first
        tokens an earlier waiting request shares goes last (the earlier one computes them)."""
        in_queue = RadixCache()
        keys: dict[int, float] = {}
        for r in self.waiting:
            m = self._match(r)
            keys[id(r)] = -m
            if r.tokens is not None and m <= IN_BATCH_PREFIX_THRESHOLD:
                key = in_queue.key(r.tokens)
                if in_queue.match(key, len(r.tokens)) >= IN_BATCH_PREFIX_THRESHOLD:
                    keys[id(r)] = math.inf
                else:
                    in_queue.insert(key, len(r.tokens))
        self.waiting.sort(key=lambda r: keys[id(r)])

    def _prefill(self) -> StepOutcome | None:
        """Build and run a prefill batch like SGLang's get_new_batch_prefill, if one fits."""
        if (self.batch_full or not self.waiting) and self.chunked is None:
            return None
        running_bs = len(self.running)
        if running_bs >= self.max_running and self.chunked is None:
            self.batch_full = True
            return None
        mixed_tokens = running_bs if self.mixed else 0
        free = self._room()
        ratio = self.new_token_ratio
        if self.max_output_len > self.reserve_cap:
            future = sum(min(r.output_len - r.generated, self.reserve_cap) for r in self.running)
        else:
            future = sum([r.output_len - r.generated for r in self.running])
        offset = mixed_tokens + ratio * future
        cur_offset = mixed_tokens
        rem_input = self.max_prefill - mixed_tokens
        rem_chunk = None if self.chunk is None else self.chunk - mixed_tokens
        chunks: list[tuple[SimRequest, int]] = []

        if self.chunked is not None:  # the split prompt continues first
            r = self.chunked
            ext = r.target - r.kv
            room = int(min(free - offset, rem_chunk if rem_chunk is not None else math.inf))
            n = min(ext, room)
            if n > 0:
                truncated = ext > n
                chunks.append((r, n))
                offset += n + (0 if truncated else min(r.output_len, self.reserve_cap))
                cur_offset += n
                rem_input -= n
                if rem_chunk is not None:
                    rem_chunk -= n
                self.chunked = r if truncated else None

        admitted = 0
        if self.chunked is None:
            for req in self._ordered_waiting():
                if running_bs + len(chunks) >= self.max_running:
                    self.batch_full = True
                    break
                hit = self._match(req)
                ext = req.target - hit
                total = ext + min(req.output_len, self.reserve_cap)
                pinned = self._pin(req, hit)  # the match is locked: its slots are no longer evictable
                if total >= free - pinned - offset:
                    self._release(req)
                    self.batch_full = True  # NO_TOKEN: wait until a request leaves
                    break
                if (ext > rem_input and chunks) or (rem_chunk is not None and ext > rem_chunk and rem_chunk <= 0):
                    self._release(req)
                    break
                free -= pinned
                self.stats.cached_prompt_tokens += hit
                if rem_chunk is None or ext <= rem_chunk:
                    n = ext
                    offset += n + min(req.output_len, self.reserve_cap)
                else:
                    n = rem_chunk
                    offset += n
                    self.chunked = req
                chunks.append((req, n))
                admitted += 1
                cur_offset += n
                rem_input -= n
                if rem_chunk is not None:
                    rem_chunk -= n
                if free - offset <= 0 or free - cur_offset <= 0:
                    self.batch_full = True
                    break
                if rem_input <= 0 or (rem_chunk is not None and rem_chunk <= 0) or self.chunked is not None:
                    break
            if admitted:
                del self.waiting[:admitted]  # admitted requests are a prefix of the ordered queue
        if not chunks:
            return None
        return self._run_prefill(chunks)

    def _run_prefill(self, chunks: list[tuple[SimRequest, int]]) -> StepOutcome:
        new_tokens = sum(n for _, n in chunks)
        decoders = self.running if (self.mixed and self.running
                                    and self._room() - new_tokens >= len(self.running)) else []
        completing = sum(1 for r, n in chunks if r.kv + n == r.target)
        seconds = self.cost.prefill_seconds([(r.kv, n) for r, n in chunks], len(decoders),
                                            sum(r.kv + 1 for r in decoders), completing + len(decoders))
        out = StepOutcome("mixed" if decoders else "prefill", self._noisy(seconds),
                          batch_size=len(chunks) + len(decoders), prefill_tokens=new_tokens)
        self.stats.prefill_steps += 1
        self.stats.prefill_tokens += new_tokens
        still_running: list[SimRequest] = []
        if decoders:
            self.stats.decode_steps += 1
            self.stats.decode_batch_sum += len(decoders)
            self._alloc(len(decoders))
            for r in decoders:
                r.kv += 1
                self._emit(r, 1, out, still_running)
            self.running = still_running
        self._alloc(new_tokens)
        for r, n in chunks:
            r.kv += n
            self._cache_prompt(r)
            if r.kv == r.target:
                self._emit(r, 1, out, self.running)
        return out

    def _emit(self, r: SimRequest, n: int, out: StepOutcome, keep: list[SimRequest]) -> None:
        if r.generated == 0:
            out.first_token.append(r.rid)
        r.generated += n
        if self.track_tokens:
            out.tokens[r.rid] = n
        if r.generated >= r.output_len:
            out.finished.append(r.rid)
            self._release(r)
            self.batch_full = False  # a request left: admission may succeed again
        else:
            keep.append(r)

    def _retract(self, out_retracted: list[Any]) -> None:
        """SGLang's retract_decode: send back the requests with the fewest output tokens (longest
        prompts first among equals) until every remaining one has room for 20 more steps."""
        order = sorted(self.running, key=lambda r: (r.generated, -r.input_len), reverse=True)
        first = True
        while first or self._room() < RETRACT_DECODE_STEPS * len(order):
            if len(order) == 1:
                break
            first = False
            r = order.pop()
            self._release(r)
            r.target = r.input_len + r.generated  # re-prefill prompt + what was generated
            r.retractions += 1
            self.waiting.append(r)
            out_retracted.append(r.rid)
            self.stats.retractions += 1
        keep = set(map(id, order))
        self.running = [r for r in self.running if id(r) in keep]
        if self._room() < len(self.running) and self.chunked is not None:
            # Last resort: the half-prefilled prompt gives its slots back too.
            c, self.chunked = self.chunked, None
            self._release(c)
            self.waiting.insert(0, c)
            out_retracted.append(c.rid)
        decoded = sum(r.generated for r in self.running)
        max_new = sum(r.output_len for r in self.running) or 1
        self.new_token_ratio = min(1.0, (decoded + RETRACT_DECODE_STEPS * len(self.running)) / max_new)
        self.batch_full = False

    def _decode(self, now: float, max_steps: int, horizon: float | None) -> StepOutcome:
        retracted: list[Any] = []
        if self._room() < len(self.running):
            self._retract(retracted)
        running = self.running
        batch = len(running)
        kv0 = batch  # plus the token written this step
        k = max_steps
        for r in running:
            kv0 += r.kv
            left = r.output_len - r.generated
            k = min(k, left)
        k = max(1, min(k, self._room() // batch))
        if k > 1 and horizon is not None and not self.batch_full and horizon > now:
            k = min(k, self._steps_to_reach(batch, kv0, horizon - now))
        total, total_sq = self._decode_sum(batch, kv0, k)
        out = StepOutcome("decode", self._noisy(total, total_sq, k), steps=k, batch_size=batch,
                          retracted=retracted)
        self.stats.decode_steps += k
        self.stats.decode_batch_sum += batch * k
        self.new_token_ratio = max(self.min_ratio, self.new_token_ratio - self.ratio_decay * k)
        self._alloc(batch * k)
        # Hot loop of the virtual clock: inlined _emit (no request here gets its first token).
        keep: list[SimRequest] = []
        tokens = out.tokens if self.track_tokens else None
        for r in running:
            r.kv += k
            r.generated += k
            if tokens is not None:
                tokens[r.rid] = k
            if r.generated >= r.output_len:
                out.finished.append(r.rid)
                self._release(r)
                self.batch_full = False
            else:
                keep.append(r)
        self.running = keep
        return out

    # --- fused decode steps (virtual time) ---------------------------------------------------
    def _decode_sum(self, batch: int, kv0: float, k: int) -> tuple[float, float]:
        """Sum and sum of squares of k consecutive decode step times (context grows by batch per
        step). Exact for k <= 8; beyond, Simpson's rule over the smooth step-time curve."""
        f = self.cost.decode_seconds
        if k <= 8:
            ts = [f(batch, kv0 + batch * j) for j in range(k)]
            return sum(ts), sum(t * t for t in ts)
        n = 8  # Simpson intervals over x in [-0.5, k-0.5]: sum_j f(j) ~ integral of f
        a, h = -0.5, k / n
        s = s2 = 0.0
        for i in range(n + 1):
            w = 1 if i in (0, n) else (4 if i % 2 else 2)
            t = f(batch, kv0 + batch * (a + i * h))
            s += w * t
            s2 += w * t * t
        return s * h / 3, s2 * h / 3

    def _steps_to_reach(self, batch: int, kv0: float, span: float) -> int:
        """Fewest steps whose (noise-free) total reaches ``span`` seconds (at least 1)."""
        f = self.cost.decode_seconds
        t0 = f(batch, kv0)
        if t0 >= span:
            return 1
        slope = f(batch, kv0 + batch) - t0
        # k*t0 + slope*k*(k-1)/2 = span
        if slope > 1e-12:
            b = t0 - slope / 2
            k = math.ceil((-b + math.sqrt(b * b + 2 * slope * span)) / slope)
        else:
            k = math.ceil(span / t0)
        k = max(1, k)
        while k > 1 and self._decode_sum(batch, kv0, k - 1)[0] >= span:
            k -= 1
        while self._decode_sum(batch, kv0, k)[0] < span:
            k += 1
        return k


__all__ = ["ADMISSION_LATENCY_S", "EngineCore", "EngineStats", "RequestRejected", "SimRequest", "StepOutcome"]
