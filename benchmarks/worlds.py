"""Benchmark worlds: the "real engine" of a replay is the simulator with hidden, systematic changes,
while the twin (:mod:`autotuner.twin`) stays the unchanged simulator.

A world stretches what a real engine most plausibly does differently from the simulator, by
factors drawn from ranges grounded in the project's GPU calibration (real H100/H200 step times of
Llama-shaped models, measured where a GPU was lent: the simulator's step times were 0.55-0.99 of them):

* ``step``: GPU time of every step x1.0-1.8 (the real engine is slower, by up to 1/0.55);
* ``prefill``: prefill steps a further x0.7-1.3 (prefill and decode were off by different factors);
* ``cpu_overhead``: per-step and per-request CPU work x0.5-2, log-uniform (scheduler, sampling,
  launches: the part a roofline knows least);
* ``reserve_gib``: +0-4 GiB per GPU the engine cannot use (workspaces, allocator fragmentation,
  NCCL buffers larger than modelled): fewer KV tokens, and start-up failures the twin does not foresee;
* ``startup``: engine start-up time x0.5-2, log-uniform (weight load from another disk, graph capture).

World 0 is the unchanged simulator (where the twin is exact up to its noise-free fast path);
world ``i`` draws its factors from a generator seeded by ``i`` alone, so every surface and every
contender meets the same worlds::

    WORLDS = [draw_world(i) for i in range(5)]
    truth = load_ground_truth(surface, world=WORLDS[3])
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from autotuner.facts.gpus import GIB, GpuSpec
from autotuner.sim.cost import CostScale

STEP_RANGE = (1.0, 1.8)
PREFILL_RANGE = (0.7, 1.3)
CPU_OVERHEAD_RANGE = (0.5, 2.0)
RESERVE_GIB_RANGE = (0.0, 4.0)
STARTUP_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class World:
    """One hidden real engine (index 0: the unchanged simulator)."""

    index: int
    cost: CostScale = CostScale()
    reserve_gib: float = 0.0
    startup: float = 1.0

    @property
    def name(self) -> str:
        return f"world-{self.index}"

    @property
    def unchanged(self) -> bool:
        return self.cost == CostScale() and self.reserve_gib == 0.0 and self.startup == 1.0

    def gpu(self, gpu: GpuSpec) -> GpuSpec:
        """The GPU as this world's engine sees it: ``reserve_gib`` less free memory."""
        return replace(gpu, context_bytes=gpu.context_bytes + int(self.reserve_gib * GIB))

    def describe(self) -> str:
        if self.unchanged:
            return "unchanged simulator"
        c = self.cost
        return (f"decode x{c.decode_gpu:.2f}, prefill x{c.prefill_gpu:.2f}, CPU overheads x{c.cpu_overhead:.2f}, "
                f"+{self.reserve_gib:.1f} GiB reserved, start-up x{self.startup:.2f}")

    def key(self) -> str:
        """What a ground-truth cache of this world is keyed by."""
        c = self.cost
        return (f"{c.decode_gpu:.6f}|{c.prefill_gpu:.6f}|{c.cpu_overhead:.6f}|{self.reserve_gib:.6f}|"
                f"{self.startup:.6f}")


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def draw_world(index: int) -> World:
    """World ``index``: 0 is the unchanged simulator, the others drawn from the ranges above.

    >>> draw_world(0).unchanged, draw_world(1) == draw_world(1), draw_world(1).unchanged
    (True, True, False)
    """
    if index == 0:
        return World(0)
    rng = random.Random(f"world-{index}")
    step = rng.uniform(*STEP_RANGE)
    cost = CostScale(decode_gpu=step, prefill_gpu=step * rng.uniform(*PREFILL_RANGE),
                     cpu_overhead=_log_uniform(rng, *CPU_OVERHEAD_RANGE))
    return World(index, cost, reserve_gib=rng.uniform(*RESERVE_GIB_RANGE), startup=_log_uniform(rng, *STARTUP_RANGE))


UNCHANGED = World(0)

__all__ = ["CPU_OVERHEAD_RANGE", "PREFILL_RANGE", "RESERVE_GIB_RANGE", "STARTUP_RANGE", "STEP_RANGE", "UNCHANGED",
           "World", "draw_world"]
