"""Virtual-time benchmark: what genai-bench would measure against the simulator, in milliseconds.

The load is genai-bench's: a closed loop of ``concurrency`` users (all started at once: locust
with genai-bench's ``spawn_rate = concurrency`` dispatches them in one batch), each sending its
next request as soon as the previous one ended, until ``num_requests`` have completed; requests still in flight then are dropped.
Metrics are computed as genai-bench computes them (TTFT, TPOT = (e2e - ttft) / (out - 1),
server output throughput = output tokens / duration, percentiles with linear interpolation).

With a shared prefix (:class:`~autotuner.sim.scenario.SharedPrefix`, genai-bench's
``--prefix-len`` / ``--prefix-ratio``) every prompt carries token ids, so the engine core's prefix
cache sees what it would see over HTTP. Each level starts with the prefix cached, as the trial's
earlier levels leave it on the server (a trial's very first level starts cold: its first wave of
users computes the prefix once each).

With ``dp_size > 1`` each user sticks to one replica (users are split evenly). SGLang's router
spreads requests round-robin; with identical replicas the loads match, and the replicas can
then be simulated independently, which keeps one level at a few milliseconds.

>>> from autotuner.sim.args import SimServerArgs
>>> p = evaluate_level(SimServerArgs(sim_model="Llama-3.1-8B"), "D(100,100)", 1, 20)
>>> 6e-3 < p.tpot_p50_s < 8e-3, p.num_completed
(True, 20)
"""

from __future__ import annotations

import heapq
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from autotuner.bench.result import LevelResult, percentile
from autotuner.sim.args import SimServerArgs
from autotuner.sim.cost import CostScale
from autotuner.sim.engine import (
    ADMISSION_LATENCY_S,
    EngineCore,
    RequestRejected,
    SimRequest,
)
from autotuner.sim.memory import MemoryPlan, plan_memory
from autotuner.sim.scenario import SharedPrefix, parse_scenario

# Client-side times (measured against the wall-clock server with real genai-bench on a 2-core
# box, see tests/sim/test_sim_agreement.py): request upload + HTTP parsing, the last chunk's
# trip back, and genai-bench's own work between one response and the next request.
UPLINK_S = 0.003
DOWNLINK_S = 0.001
CLIENT_GAP_S = 0.002
SPAWN_RAMP_S = 0.0  # seconds over which the users start (0: all at once, as genai-bench does)
FUSE_STEPS = 1 << 30  # let the engine fuse as many identical decode steps as it safely can


@dataclass(frozen=True)
class LevelPrediction:
    """Predicted genai-bench metrics of one (scenario, concurrency) level. Seconds throughout;
    field names match :class:`autotuner.bench.result.LevelResult`."""

    scenario: str
    concurrency: int
    num_requests: int  # ended requests: completed + errors (genai-bench's num_requests)
    num_completed: int
    num_errors: int
    duration_s: float
    output_tok_s: float
    input_tok_s: float
    requests_per_s: float
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    tpot_p99_s: float
    e2e_p50_s: float
    e2e_p90_s: float
    e2e_p99_s: float
    mean_input_tokens: float
    mean_output_tokens: float
    # simulator internals, for explanations
    mean_decode_batch: float = 0.0
    max_batch: int = 0
    retractions: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens the prefix cache saved from prefill
    kv_tokens: int = 0
    max_running_requests: int = 0
    gpus: int = 1

    @property
    def output_tok_s_per_gpu(self) -> float:
        return self.output_tok_s / self.gpus

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_level_result(self) -> LevelResult:
        """The same numbers as a :class:`LevelResult` (rejected requests count as HTTP 400 errors,
        as the server answers them)."""
        return LevelResult(
            scenario=self.scenario, concurrency=self.concurrency, num_requests=self.num_requests,
            num_completed=self.num_completed, num_errors=self.num_errors,
            error_rate=self.num_errors / self.num_requests if self.num_requests else 0.0,
            duration_s=self.duration_s,
            output_tok_s=self.output_tok_s, input_tok_s=self.input_tok_s, requests_per_s=self.requests_per_s,
            ttft_p50_s=self.ttft_p50_s, ttft_p90_s=self.ttft_p90_s, ttft_p99_s=self.ttft_p99_s,
            tpot_p50_s=self.tpot_p50_s, tpot_p90_s=self.tpot_p90_s, tpot_p99_s=self.tpot_p99_s,
            e2e_p90_s=self.e2e_p90_s, mean_input_tokens=self.mean_input_tokens,
            mean_output_tokens=self.mean_output_tokens,
            error_codes={"400": self.num_errors} if self.num_errors else {},
            all_failed=self.num_completed == 0)


@dataclass
class _Done:
    input_len: int
    output_len: int
    ttft: float
    e2e: float
    end: float


def _seed(*parts: Any) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _run_replica(plan: MemoryPlan, scenario: Any, user_starts: list[float], quota: int,
                 seed: int, fuse: int = FUSE_STEPS, prefix: SharedPrefix | None = None,
                 cost_scale: CostScale = CostScale()) -> tuple[list[_Done], int, EngineCore]:
    """Closed-loop users on one replica until ``quota`` requests ended (completed or rejected,
    as genai-bench counts them for its request cap). Returns (completed, rejected, core)."""
    core = EngineCore(plan, seed=seed, track_tokens=False, cost_scale=cost_scale)
    if prefix is not None:
        core.warm(prefix.left_cached(scenario))
    rng = random.Random(seed ^ 0x5EED)
    arrivals: list[tuple[float, int, SimRequest]] = []  # (time at the scheduler, seq, request)
    in_flight: dict[int, tuple[SimRequest, float]] = {}  # rid -> (request, time sent)
    first_at: dict[int, float] = {}
    done: list[_Done] = []
    errors = 0
    seq = 0

    def send(t_send: float) -> None:
        nonlocal seq
        if prefix is None:
            n_in, n_out = scenario.sample(rng)
            req = SimRequest(seq, n_in, n_out)
        else:
            n_in, n_out = prefix.sample(scenario, rng)
            req = SimRequest(seq, n_in, n_out, tokens=prefix.prompt(n_in, seq))
        in_flight[seq] = (req, t_send)
        heapq.heappush(arrivals, (t_send + UPLINK_S + ADMISSION_LATENCY_S, seq, req))
        seq += 1

    for start in user_starts:
        send(start)
    t = 0.0
    while len(done) + errors < quota:
        while arrivals and arrivals[0][0] <= t and len(done) + errors < quota:
            arrival, _, req = heapq.heappop(arrivals)
            req.arrival = arrival
            try:
                core.add(req)
            except RequestRejected:  # HTTP 400 back to the user, who sends the next one
                errors += 1
                in_flight.pop(req.rid)
                send(arrival + DOWNLINK_S + CLIENT_GAP_S)
        if not core.has_work():
            if not arrivals:
                break
            t = arrivals[0][0]
            continue
        out = core.step(t, fuse, arrivals[0][0] if arrivals else None)
        if out is None:  # cannot happen while has_work(); guards against an endless loop
            break
        t += out.duration
        for rid in out.first_token:
            first_at[rid] = t
        for rid in out.finished:
            seen = t + DOWNLINK_S
            req, sent = in_flight.pop(rid)
            ttft = first_at.pop(rid) + DOWNLINK_S - sent
            done.append(_Done(req.input_len, req.output_len, ttft, seen - sent, seen))
            if len(done) + errors >= quota:
                break
            send(seen + CLIENT_GAP_S)
    return done, errors, core


def evaluate_level(args: SimServerArgs, scenario: str, concurrency: int, num_requests: int,
                   seed: int = 0, *, plan: MemoryPlan | None = None,
                   max_fused_steps: int = FUSE_STEPS, prefix: SharedPrefix | None = None,
                   cost_scale: CostScale = CostScale()) -> LevelPrediction:
    """Predict one genai-bench level. Raises StartupFailure when the config cannot start.

    ``plan`` skips re-planning memory; ``max_fused_steps=1`` steps every decode pass one by one
    like the wall-clock server does (slow; for checking the fused fast path); ``prefix``: the
    prompts share one (genai-bench's --prefix-len / --prefix-ratio); ``cost_scale``: step times
    stretched apart (the benchmarks' hidden worlds, the twin's calibration).
    """
    plan = plan or plan_memory(args)
    done, errors, cores = _run_level(plan, scenario, concurrency, num_requests, seed, max_fused_steps, prefix,
                                     cost_scale)
    return _summarise(plan, parse_scenario(scenario).text, concurrency, num_requests, done, errors, cores)


def finished_requests(args: SimServerArgs, scenario: str, concurrency: int, num_requests: int, seed: int = 0, *,
                      plan: MemoryPlan | None = None,
                      prefix: SharedPrefix | None = None,
                      cost_scale: CostScale = CostScale()) -> list[tuple[float, float, float, int, int]]:
    """The completed requests of the same level as :func:`evaluate_level`, in the order they ended:
    (end, ttft, e2e, output tokens, input tokens), seconds from the level's start. What a
    genai-bench child reports one by one while the level runs (:mod:`autotuner.bench.fail_fast`)."""
    plan = plan or plan_memory(args)
    done, _, _ = _run_level(plan, scenario, concurrency, num_requests, seed, FUSE_STEPS, prefix, cost_scale)
    return [(d.end, d.ttft, d.e2e, d.output_len, d.input_len) for d in sorted(done, key=lambda d: d.end)]


def _run_level(plan: MemoryPlan, scenario: str, concurrency: int, num_requests: int, seed: int,
               max_fused_steps: int, prefix: SharedPrefix | None,
               cost_scale: CostScale) -> tuple[list[_Done], int, list[EngineCore]]:
    if concurrency < 1 or num_requests < 1:
        raise ValueError("concurrency and num_requests must be >= 1")
    scen = parse_scenario(scenario)
    dp = plan.args.dp_size
    base = _seed(seed, plan.args.sim_seed, scenario, concurrency)
    done: list[_Done] = []
    errors = 0
    cores: list[EngineCore] = []
    for replica in range(dp):
        users = list(range(replica, concurrency, dp))
        if not users:
            continue
        starts = [SPAWN_RAMP_S * u / concurrency for u in users]
        quota = max(1, round(num_requests * len(users) / concurrency))
        got, rejected, core = _run_replica(plan, scen, starts, quota, base + 7919 * replica, max_fused_steps, prefix,
                                           cost_scale)
        done += got
        errors += rejected
        cores.append(core)
    return done, errors, cores


def _summarise(plan: MemoryPlan, scenario: str, concurrency: int, num_requests: int,
               done: list[_Done], errors: int, cores: list[EngineCore]) -> LevelPrediction:
    n = len(done)
    duration = max((d.end for d in done), default=0.0)
    out_tokens = sum(d.output_len for d in done)
    in_tokens = sum(d.input_len for d in done)
    ttft = sorted(d.ttft for d in done)
    e2e = sorted(d.e2e for d in done)
    tpot = sorted((d.e2e - d.ttft) / (d.output_len - 1) for d in done if d.output_len > 1)
    steps = sum(c.stats.decode_steps for c in cores)
    p = percentile
    safe = duration if duration > 0 else math.inf
    return LevelPrediction(
        scenario=scenario, concurrency=concurrency, num_requests=n + errors, num_completed=n,
        num_errors=errors,
        duration_s=duration, output_tok_s=out_tokens / safe, input_tok_s=in_tokens / safe,
        requests_per_s=n / safe,
        ttft_p50_s=p(ttft, 50), ttft_p90_s=p(ttft, 90), ttft_p99_s=p(ttft, 99),
        tpot_p50_s=p(tpot, 50), tpot_p90_s=p(tpot, 90), tpot_p99_s=p(tpot, 99),
        e2e_p50_s=p(e2e, 50), e2e_p90_s=p(e2e, 90), e2e_p99_s=p(e2e, 99),
        mean_input_tokens=in_tokens / n if n else math.nan,
        mean_output_tokens=out_tokens / n if n else math.nan,
        mean_decode_batch=sum(c.stats.decode_batch_sum for c in cores) / steps if steps else 0.0,
        max_batch=max((c.stats.max_batch for c in cores), default=0),
        retractions=sum(c.stats.retractions for c in cores),
        cached_prompt_tokens=sum(c.stats.cached_prompt_tokens for c in cores),
        kv_tokens=plan.kv_tokens, max_running_requests=plan.max_running_requests, gpus=plan.gpus,
    )


def evaluate_config(args: SimServerArgs, scenarios: Sequence[str], concurrencies: Sequence[int],
                    num_requests: int, seed: int = 0, prefix: SharedPrefix | None = None) -> list[LevelPrediction]:
    """Every scenario at every concurrency, in genai-bench's order (scenario-major).

    Raises :class:`~autotuner.sim.memory.StartupFailure` when the config cannot start.
    """
    plan = plan_memory(args)
    return [evaluate_level(args, s, c, num_requests, seed, plan=plan, prefix=prefix)
            for s in scenarios for c in concurrencies]


__all__ = ["LevelPrediction", "evaluate_config", "evaluate_level", "finished_requests", "percentile"]
