"""Whether the host distorted a level: how far the server and the load generator fell behind.

A level measures the engine only while the machine keeps up with both ends. The simulated engine
sleeps its modelled step times in wall-clock time, so a starved host (other processes on the CPUs)
stretches every step and inflates the latencies it is measured by; with a real engine the same
happens when the load generator's CPU is the bottleneck: it reads each token late, so TTFT grows,
and it sends the next request late, so throughput falls. Four numbers per level:

* ``server_lag``: the share of the level's wall time by which the simulated server fell behind
  its own modelled schedule for good (``GET /sim/lag``, :mod:`autotuner.sim.server`, read before
  and after the level); None for a real engine. Latencies and throughput are off by about it.
* ``server_late_s``: how much later than the model had them ready the simulated server wrote the
  level's first tokens, on average (the schedule catches up with short delays, the TTFTs do not).
* ``client_lag_s``: the p90, over the time the level's requests were in flight, of the load
  generator's event-loop lag: how much later than asked a greenlet that sleeps 20 ms in
  genai-bench's level process wakes up (:class:`autotuner.bench.level_server.HostMeter`). A token
  that arrives is read about that late, so each TTFT is measured up to that much too long.
* ``client_cpu``: the CPU time of genai-bench's level process over that time. Its greenlets share
  one core; near 1 it cannot keep up with the server, whatever its lag says.

Tolerance (:func:`distortion`): a level is distorted when the server fell behind by more than 5%
of the level's time; when the first tokens went out late, or the load generator's p90 lag was,
by more than 5% of the level's p90 TTFT and more than 10 ms (on a quiet machine both are 1-5 ms:
jitter under a fast TTFT is not the host); or when the load generator used more than 90% of a
core. 5% sits just above the noise the search is built for (benchmarks/BENCHMARKS.md,
"Measurement noise": repeated identical levels vary by 0.3% in throughput, 3.8% in p90 TTFT and
1.1% in p90 TPOT, and the answer is benchmarked to be within 3% of the true optimum): a distortion
beyond it moves a level across the SLO line, or the answer, by more than that noise, so such a
level is never scored silently (:mod:`autotuner.trial.host_distortion` runs it again, then
refuses it). Nothing is measured for a level run by an OME BenchmarkJob: its numbers stay None.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from autotuner.bench.result import LevelResult

SERVER_LAG_TOLERANCE = 0.05  # share of the level's wall time the server may fall behind its schedule
LAG_TOLERANCE = 0.05  # share of the level's p90 TTFT the first tokens' lateness or genai-bench's p90 lag may reach
LAG_FLOOR_S = 0.010  # a delay below this is an idle machine's jitter (1-5 ms seen), whatever the TTFT
CLIENT_CPU_TOLERANCE = 0.90  # share of one core the load generator's process may use
SIM_LAG_PATH = "/sim/lag"


@dataclass(frozen=True)
class ServerLag:
    """The simulated server's counters at one moment (``GET /sim/lag``) and when they were read."""

    lag_s: float  # how far its replicas fell behind their modelled schedule for good, summed
    late_s: float  # how much later than modelled the first tokens were written, summed
    first_tokens: int
    replicas: int
    read_at: float  # time.monotonic() of the reader

    def share_since(self, earlier: ServerLag) -> float:
        """The share of the wall time since ``earlier`` by which each replica fell behind."""
        wall = max(self.read_at - earlier.read_at, 1e-9)
        return max(0.0, self.lag_s - earlier.lag_s) / (wall * max(self.replicas, 1))

    def lateness_since(self, earlier: ServerLag) -> float:
        """How late a first token was written on average since ``earlier`` (0 when none was)."""
        count = self.first_tokens - earlier.first_tokens
        return max(0.0, self.late_s - earlier.late_s) / count if count > 0 else 0.0


def read_server_lag(base_url: str, api_key: str | None, timeout_s: float = 5.0) -> ServerLag | None:
    """The simulator's lag counters at ``base_url`` (a server root); None when it does not answer them."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(base_url + SIM_LAG_PATH, headers=headers),
                                    timeout=timeout_s) as resp:
            data = json.loads(resp.read())
        return ServerLag(float(data["lag_s"]), float(data["late_s"]), int(data["first_tokens"]), int(data["replicas"]),
                         time.monotonic())
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
        return None


def distortion(level: LevelResult) -> str:
    """Why the host distorted ``level`` beyond the tolerance ('' when it did not, or nothing was
    measured).

    >>> distortion(LevelResult("D(1,1)", 1, 1, 1, 0, 0.0, 1.0, 1.0, 1.0, 1.0, ttft_p90_s=0.2, server_lag=0.12))
    'the server fell 12% behind its schedule (tolerance 5%)'
    >>> distortion(LevelResult("D(1,1)", 1, 1, 1, 0, 0.0, 1.0, 1.0, 1.0, 1.0, ttft_p90_s=0.2, client_lag_s=0.004))
    ''
    """
    why = []
    allowed = max(LAG_FLOOR_S, LAG_TOLERANCE * (level.ttft_p90_s or 0.0))  # a delay of each TTFT
    if level.server_lag is not None and level.server_lag > SERVER_LAG_TOLERANCE:
        why.append(f"the server fell {level.server_lag:.0%} behind its schedule (tolerance {SERVER_LAG_TOLERANCE:.0%})")
    if level.server_late_s is not None and level.server_late_s > allowed:
        why.append(f"the server wrote first tokens {level.server_late_s * 1000:.0f} ms late on average "
                   f"(tolerance {allowed * 1000:.0f} ms)")
    if level.client_lag_s is not None:
        if level.client_lag_s > allowed:
            why.append(f"genai-bench's event loop lagged {level.client_lag_s * 1000:.0f} ms at p90 "
                       f"(tolerance {allowed * 1000:.0f} ms)")
    if level.client_cpu is not None and level.client_cpu > CLIENT_CPU_TOLERANCE:
        why.append(f"genai-bench's CPU was busy {level.client_cpu:.0%} of the level "
                   f"(tolerance {CLIENT_CPU_TOLERANCE:.0%})")
    return "; ".join(why)


def judged(level: LevelResult, *, server_lag: float | None = None, server_late_s: float | None = None,
           client_lag_s: float | None = None, client_cpu: float | None = None) -> LevelResult:
    """``level`` with its host numbers and, when they are beyond the tolerance, why."""
    level = dataclasses.replace(level, server_lag=server_lag, server_late_s=server_late_s, client_lag_s=client_lag_s,
                                client_cpu=client_cpu)
    return dataclasses.replace(level, distortion=distortion(level))


__all__ = ["CLIENT_CPU_TOLERANCE", "LAG_FLOOR_S", "LAG_TOLERANCE", "SERVER_LAG_TOLERANCE",
           "ServerLag", "distortion", "judged", "read_server_lag"]
