"""Measurement noise: what one benchmark level reads, given the simulator's noise-free level.

A campaign measures each level once (a re-measurement: a few times), and the best of many noisy
measurements is biased upwards; a tuner that answers with the luckiest run is punished here,
because its answer is judged by the config's true score. The model, per level:

* genai-bench's request cap is checked once a second and the level's ``run_duration`` runs until
  that check, while requests still in flight are dropped (``../shared/genai-bench/NOTES.md``,
  pitfall 5): the duration grows by U(0, ``poll_s``) and throughput reads low by as much;
* run-to-run variation of the server and the client: throughput times lognormal(``throughput_sigma``),
  p90 latencies times lognormal(``latency_sigma``). The defaults (2% and 4%) are the spread of
  repeated identical levels of real genai-bench against the wall-clock simulator on this 2-core
  machine, nothing else running (``python -m benchmarks.measure_noise``; figures in
  BENCHMARKS.md), rounded up: a GPU server adds its own jitter on top of the client's;
* rare outliers (a noisy neighbour, a GC pause, a network blip): with probability
  ``outlier_rate`` a level reads ``outlier_throughput`` of its throughput and ``outlier_latency``
  times its latencies (an assumption, stated as such).

>>> import random
>>> NoiseModel().measure(level, random.Random(0))    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass

from autotuner.bench.result import LevelResult

_LATENCIES = ("ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_p90_s")
_RATES = ("output_tok_s", "input_tok_s", "requests_per_s")


@dataclass(frozen=True)
class NoiseModel:
    throughput_sigma: float = 0.02
    latency_sigma: float = 0.04
    outlier_rate: float = 0.02
    outlier_throughput: float = 0.85
    outlier_latency: float = 1.3
    poll_s: float = 1.0

    def measure(self, level: LevelResult, rng: random.Random) -> LevelResult:
        """One noisy reading of ``level``."""
        slack = rng.uniform(0.0, self.poll_s)
        duration = level.duration_s + slack
        rate = (level.duration_s / duration if duration > 0 else 1.0) * math.exp(rng.gauss(0.0, self.throughput_sigma))
        latency = math.exp(rng.gauss(0.0, self.latency_sigma))
        if rng.random() < self.outlier_rate:
            rate *= self.outlier_throughput
            latency *= self.outlier_latency
        changes = {name: getattr(level, name) * rate for name in _RATES}
        changes.update({name: getattr(level, name) * latency for name in _LATENCIES if getattr(level, name) is not None})
        return dataclasses.replace(level, duration_s=duration, **changes)


NO_NOISE = NoiseModel(throughput_sigma=0.0, latency_sigma=0.0, outlier_rate=0.0, poll_s=0.0)

__all__ = ["NO_NOISE", "NoiseModel"]
