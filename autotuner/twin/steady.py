"""The twin's fast path: a steady-state (analytic) model of one load level, on the simulator's own
step costs and memory plan.

The discrete-event simulator (:mod:`autotuner.sim.virtual`) steps the scheduler request by request;
screening a whole search space that way takes minutes. Here a level is worked out in closed form
from the same :class:`~autotuner.sim.cost.StepCost` and :class:`~autotuner.sim.memory.MemoryPlan`:

* genai-bench's closed loop starts every user at once, so each replica serves its users in waves:
  the running batch is ``b = min(users, max running requests, KV pool / tokens per request)``;
  a wave is prefilled (chunk by chunk, as the scheduler splits it) and then decodes together;
* with more users than ``b`` the replica is saturated: waves run back to back and the other users
  queue for ``users / b - 1`` waves, minus the time they spend on the client side;
* each request's TTFT is its queue wait plus the prefill steps up to the one that completes its
  prompt; its TPOT is the prefill steps after that one plus the wave's decode, per output token;
* percentiles are taken over one wave (every wave is alike), throughput over the level's requests.

With a shared prefix (genai-bench's ``--prefix-len`` / ``--prefix-ratio``) and the engine's prefix
cache on, the prefix is cached once (an earlier level leaves it there, as the discrete-event
simulator's levels start): each prompt prefills only what the cache lacks (SGLang: all but the
last prompt token; vLLM: whole blocks), on top of the cached context, and the pool holds the
prefix once.

Traffic with random lengths (``N(...)``, ``U(...)``) is modelled at its mean lengths, mixed
chunking as plain chunking, and the simulator's per-step noise not at all: this ranks configs, the
discrete-event simulator confirms the ranking's head (:mod:`autotuner.twin.predict`).

>>> from autotuner.sim import SimServerArgs, plan_memory
>>> level = SteadyLevelModel(plan_memory(SimServerArgs(sim_model="Llama-3.1-8B"))).level("D(100,100)", 1, 10)
>>> 6e-3 < level.tpot_p90_s < 8e-3, level.num_completed
(True, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autotuner.bench.result import LevelResult, percentile
from autotuner.sim.cost import CostScale, StepCost
from autotuner.sim.engine import ADMISSION_LATENCY_S, CLIP_MAX_NEW_TOKENS
from autotuner.sim.memory import MemoryPlan
from autotuner.sim.prefix_cache import prefix_cache_for
from autotuner.sim.scenario import SharedPrefix, parse_scenario
from autotuner.sim.virtual import CLIENT_GAP_S, DOWNLINK_S, UPLINK_S

# Seconds a user spends outside the engine between one response and its next request's arrival.
CLIENT_SIDE_S = DOWNLINK_S + CLIENT_GAP_S + UPLINK_S + ADMISSION_LATENCY_S
SIMPSON_INTERVALS = 8  # decode steps summed exactly up to this many, beyond by Simpson's rule


@dataclass(frozen=True)
class Wave:
    """One wave of ``batch`` requests on a replica: its prefill steps and its decode."""

    batch: int
    prefill_steps: tuple[float, ...]  # seconds of each prefill step, in order
    completes: tuple[int, ...]  # per request of the wave: the index of the step that ends its prompt
    decode_s: float  # the wave's output_len - 1 decode steps

    @property
    def service_s(self) -> float:
        return sum(self.prefill_steps) + self.decode_s


@dataclass(frozen=True)
class Calibration:
    """The twin's fitted parameters (identity: the simulator as it is): factors on the GPU time of
    decode and of prefill steps and on the CPU overheads, the parts of
    :class:`~autotuner.sim.cost.StepCost` a real engine differs in most."""

    decode: float = 1.0
    prefill: float = 1.0
    cpu_overhead: float = 1.0

    @property
    def scale(self) -> CostScale:
        """The step-cost model's factors, for the fast path and the discrete-event simulator alike."""
        return CostScale(decode_gpu=self.decode, prefill_gpu=self.prefill, cpu_overhead=self.cpu_overhead)

    def to_dict(self) -> dict[str, float]:
        return {"decode": round(self.decode, 3), "prefill": round(self.prefill, 3),
                "cpu_overhead": round(self.cpu_overhead, 3)}


class SteadyLevelModel:
    """Levels of one config (a memory plan) in closed form; memoises waves by batch and scenario.
    ``prefix``: the prompts share one (the engine's prefix cache, if on, holds it)."""

    def __init__(self, plan: MemoryPlan, cost: StepCost | None = None, prefix: SharedPrefix | None = None):
        a = plan.args
        self.plan = plan
        self.cost = cost or StepCost(plan)  # or a calibrated one: StepCost(plan, calibration.scale)
        self.chunk = int(a.chunked_prefill_size) if a.chunked_prefill_enabled else None
        self.max_prefill = int(a.max_prefill_tokens or 0) or None
        self.max_running = plan.max_running_requests
        self.max_req_len = min(int(a.context_length or plan.model.max_context), plan.kv_tokens) - 1
        self.reserve_cap = CLIP_MAX_NEW_TOKENS if a.kv_reservation is not False else 0
        self.cache = prefix_cache_for(a)  # the engine core's, asked only what it can hold
        self.prefix = prefix
        self._waves: dict[tuple[int, int, int, int], Wave] = {}

    def cached_tokens(self, n_in: int) -> int:
        """Tokens of an ``n_in``-token prompt the prefix cache holds (none without a shared prefix,
        with the cache off, or with a prefix the engine would not keep warm)."""
        if self.prefix is None or self.cache is None:
            return 0
        shared = min(self.prefix.tokens_for(n_in), n_in)
        if shared >= self.plan.kv_tokens // 2:
            return 0
        return self.cache.cacheable(min(shared, n_in - 1))

    def level(self, scenario: str, concurrency: int, num_requests: int) -> LevelResult:
        """The level genai-bench would measure (same fields as a real one)."""
        scen = parse_scenario(scenario)
        n_in = max(1, round(scen.mean_input))
        n_out = max(1, round(scen.mean_output))
        dp = self.plan.args.dp_size
        if n_in >= self.max_req_len:  # every request is refused with HTTP 400
            return LevelResult(scen.text, concurrency, num_requests, 0, num_requests, 1.0, 0.0, 0.0, 0.0, 0.0,
                               error_codes={"400": num_requests}, all_failed=True)
        n_out = min(n_out, self.max_req_len - n_in)
        hit = self.cached_tokens(n_in)
        ttfts: list[float] = []
        tpots: list[float] = []
        duration = 0.0
        completed = 0
        for replica in range(dp):
            users = len(range(replica, concurrency, dp))
            if not users:
                continue
            quota = max(1, round(num_requests * users / concurrency))
            wave, period = self._replica(users, n_in, n_out, hit)
            waits = self._waits(users, wave, period)
            prefill_s = sum(wave.prefill_steps)
            ends = [sum(wave.prefill_steps[:step + 1]) for step in range(len(wave.prefill_steps))]
            for user, wait in enumerate(waits):
                done_by = ends[wave.completes[user % wave.batch]]  # prefill seconds until its prompt is in
                ttfts.append(wait + UPLINK_S + ADMISSION_LATENCY_S + done_by + DOWNLINK_S)
                if n_out > 1:
                    tpots.append((prefill_s - done_by + wave.decode_s) / (n_out - 1))
            waves_per_user = quota / users
            busy = quota / wave.batch * wave.service_s
            duration = max(duration, max(busy, waves_per_user * period - CLIENT_SIDE_S)
                           + UPLINK_S + ADMISSION_LATENCY_S + DOWNLINK_S)
            completed += quota
        ttfts.sort()
        tpots.sort()
        p = percentile
        return LevelResult(
            scenario=scen.text, concurrency=concurrency, num_requests=completed, num_completed=completed,
            num_errors=0, error_rate=0.0, duration_s=duration, output_tok_s=completed * n_out / duration,
            input_tok_s=completed * n_in / duration, requests_per_s=completed / duration,
            ttft_p50_s=p(ttfts, 50), ttft_p90_s=p(ttfts, 90), ttft_p99_s=p(ttfts, 99),
            tpot_p50_s=p(tpots, 50) if tpots else None, tpot_p90_s=p(tpots, 90) if tpots else None,
            tpot_p99_s=p(tpots, 99) if tpots else None,
            e2e_p90_s=p(ttfts, 90) + (p(tpots, 90) * (n_out - 1) if tpots else 0.0),
            mean_input_tokens=float(n_in), mean_output_tokens=float(n_out))

    def batch_limit(self, n_in: int, n_out: int, hit: int = 0) -> int:
        """Requests that run together: max running requests, and what the KV pool holds of prompt
        plus (reserved) output, the ``hit`` cached tokens of each prompt held once for all."""
        per_request = n_in - hit + (min(n_out, self.reserve_cap) if self.reserve_cap else n_out)
        return max(1, min(self.max_running, (self.plan.kv_tokens - hit) // per_request))

    def _replica(self, users: int, n_in: int, n_out: int, hit: int) -> tuple[Wave, float]:
        """(the wave, the period after which a user sends its next request)."""
        batch = min(users, self.batch_limit(n_in, n_out, hit))
        wave = self._wave(batch, n_in, n_out, hit)
        # saturated: the server runs waves back to back, each user's once every users / batch waves
        return wave, max(wave.service_s + CLIENT_SIDE_S, users / batch * wave.service_s)

    @staticmethod
    def _waits(users: int, wave: Wave, period: float) -> list[float]:
        """Each user's queue wait before its wave starts. A slot frees only when a wave ends, so a
        request waits whole waves: the mean wait (period - client side - service) split between
        the two nearest whole numbers of waves, the longer wait for the last users."""
        mean_waves = max(0.0, period - CLIENT_SIDE_S - wave.service_s) / wave.service_s
        if mean_waves == 0.0:
            return [0.0] * users
        short = math.floor(mean_waves)
        longer = round(users * (mean_waves - short))
        wait = lambda waves: max(0.0, waves * wave.service_s - CLIENT_SIDE_S) if waves else 0.0
        return [wait(short)] * (users - longer) + [wait(short + 1)] * longer

    def _wave(self, batch: int, n_in: int, n_out: int, hit: int) -> Wave:
        key = (batch, n_in, n_out, hit)
        if key not in self._waves:
            steps, completes = self._prefill(batch, n_in, hit)
            self._waves[key] = Wave(batch, steps, completes, self._decode(batch, n_in, n_out - 1))
        return self._waves[key]

    def _prefill(self, batch: int, n_in: int, hit: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The scheduler's prefill batches for ``batch`` prompts of ``n_in`` tokens arriving together,
        the first ``hit`` of each cached (whole prompts up to ``max_prefill_tokens``, the last one
        split at ``chunked_prefill_size``)."""
        steps: list[float] = []
        completes: list[int] = []
        cached = hit  # tokens of the next prompt already in the KV pool (cached, or prefilled)
        left = batch
        while left:
            chunks: list[tuple[int, int]] = []
            rem_chunk = self.chunk if self.chunk is not None else math.inf
            rem_input = self.max_prefill if self.max_prefill is not None else math.inf
            done_here = 0
            while left:
                ext = n_in - cached
                if chunks and ext > rem_input:
                    break
                n = ext if ext <= rem_chunk else int(rem_chunk)
                chunks.append((cached, n))
                rem_chunk -= n
                rem_input -= n
                if n == ext:
                    cached = hit
                    left -= 1
                    done_here += 1
                else:
                    cached += n
                    break
                if rem_chunk <= 0 or rem_input <= 0:
                    break
            completes += [len(steps)] * done_here
            steps.append(self.cost.prefill_seconds(chunks, logits_rows=done_here))
        return tuple(steps), tuple(completes)

    def _decode(self, batch: int, n_in: int, steps: int) -> float:
        """Seconds of ``steps`` decode steps of the batch, context growing by one token each."""
        if steps <= 0:
            return 0.0
        f = self.cost.decode_seconds
        kv0 = batch * (n_in + 1)
        if steps <= SIMPSON_INTERVALS:
            return sum(f(batch, kv0 + batch * j) for j in range(steps))
        h = steps / SIMPSON_INTERVALS
        total = 0.0
        for i in range(SIMPSON_INTERVALS + 1):
            weight = 1 if i in (0, SIMPSON_INTERVALS) else (4 if i % 2 else 2)
            total += weight * f(batch, kv0 + batch * (-0.5 + i * h))
        return total * h / 3


__all__ = ["CLIENT_SIDE_S", "Calibration", "SteadyLevelModel", "Wave"]
