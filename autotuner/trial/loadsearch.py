"""The load search: find the highest load (concurrency) at which a config still meets the SLOs.

Each trial grows the load from a start value (multiplying it by ``growth``) until a level breaks
an SLO, errors appear, throughput stops rising or the maximum is reached; then it narrows, by
geometric bisection, between the last passing and the first failing load until they are within
``resolution`` of each other. Every probe is a real benchmark level. Pure functions, no I/O::

    bounds = LoadBounds(min=1, max=256, start=8, resolution=0.1)
    probes = [Probe(8, True, 900.0), Probe(16, True, 1700.0), Probe(32, False, 2500.0)]
    next_load(bounds, probes)        # 23: between 16 (passes) and 32 (fails)

Why it may stop where it does rests on two properties of a closed-loop load (N users, each sending
its next request when the last one ends) that hold for continuous-batching servers until they
thrash: latency does not fall as the load rises, and neither does throughput. So the loads that
meet the SLOs form an interval [min, boundary], and no load below a failing one can make more
throughput than that failing one made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


_EPS = 1e-9  # so that 30 x 1.1 is 33, not 33.000000000000004 rounded the wrong way


@dataclass(frozen=True)
class LoadBounds:
    """Where the load search may go, in concurrent users.

    ``resolution``: narrowing stops once the first failing load is at most this share above the
    last passing one (0.1: within 10%). ``saturation_gain``: growing stops when one growth step
    raised throughput by less than this share (more load would only add latency).
    """

    min: int = 1
    max: int = 512
    start: int = 8
    resolution: float = 0.1
    growth: float = 2.0
    saturation_gain: float = 0.05

    def clamp(self, load: float) -> int:
        return int(min(self.max, max(self.min, round(load))))


@dataclass(frozen=True)
class Probe:
    """One measured load: whether it met every SLO, and the output tokens/s it made."""

    load: int
    passed: bool
    throughput: float
    ttft_excess: float | None = None  # p90 TTFT's ratio to its limit where TTFT is what binds; else None


def boundary(probes: Sequence[Probe]) -> tuple[int | None, int | None]:
    """(highest passing load, lowest failing load above it); None where there is none.

    A failing load below a passing one (measurement noise at the boundary) is ignored: the
    passing level was measured, so the boundary is at least there.
    """
    passing = [p.load for p in probes if p.passed]
    lo = max(passing) if passing else None
    above = [p.load for p in probes if not p.passed and (lo is None or p.load > lo)]
    return lo, (min(above) if above else None)


def next_load(bounds: LoadBounds, probes: Sequence[Probe], first: int | None = None,
              predicted: bool = False) -> int | None:
    """The next load to measure, or None when the boundary is located (to ``resolution``), the
    load is at its maximum or saturated, or even the minimum load fails.

    ``first``: the load of the first probe (default ``bounds.start``); the campaign passes the
    best trial's boundary load here, so the first level already tells whether a config can win,
    or before there is one the twin's predicted boundary load of the config; the search moves
    away from it in small steps first (:func:`_step_from_hint`). ``predicted``: ``first`` is a
    prediction, not a measured boundary, so where TTFT binds the steps down follow the measured
    TTFT instead (:func:`_step_by_ttft`).
    """
    if not probes:
        return bounds.clamp(bounds.start if first is None else first)
    lo, hi = boundary(probes)
    tried = {p.load for p in probes}
    if lo is None:
        assert hi is not None
        if hi <= bounds.min:
            return None  # fails even at the minimum load: infeasible
        if first is None:
            return _untried(bounds.clamp(math.floor(hi / bounds.growth)), tried, bounds.min, hi - 1)
        ttft_excess = next(p for p in probes if p.load == hi).ttft_excess
        factor = (_step_by_ttft(bounds, ttft_excess) if predicted and ttft_excess is not None
                  else _step_from_hint(bounds, sum(not p.passed for p in probes) - 1))
        return _untried(bounds.clamp(hi / factor), tried, bounds.min, hi - 1)  # the nearest load
    if hi is None:
        if lo >= bounds.max or _saturated(bounds, probes, lo):
            return None
        if first is None:
            return bounds.clamp(math.ceil(lo * bounds.growth))
        factor = _step_from_hint(bounds, sum(p.passed for p in probes) - 1)
        return bounds.clamp(max(lo + 1, math.floor(lo * factor + _EPS)))
    if hi - lo <= 1 or hi <= lo * (1 + bounds.resolution):
        return None
    return _untried(round(math.sqrt(lo * hi)), tried, lo + 1, hi - 1)


def _step_from_hint(bounds: LoadBounds, steps: int) -> float:
    """The factor of the next step away from the best trial's boundary load, up or down, after
    ``steps`` earlier steps in that direction. The config's own boundary is likely near that load,
    so the first step is the resolution (one level tells whether the config beats the best trial by
    more than that, or falls short of it) and each further step doubles, up to the full ``growth``:
    a config far from the best trial reaches full steps after a few levels.

    Down, the step goes to the nearest load: rounding up made the first step from 32 users 30, 6%
    rather than 10%, too small for a failure there to prove a config that is as fast per user as
    the best trial weaker beyond the stop margin (:mod:`autotuner.stopping.bound`), so such
    trials ran a third level. Median GPU-hours to within 3% of the optimum over seeds 0-39
    (``python -m benchmarks.run --surface benchmarks/surfaces/NAME.yaml --seeds 40``), rounded up
    then to the nearest load now: Llama-70B 14.2 -> 13.0, Llama-8B 0.867 -> 0.806, Qwen 1.60 ->
    1.61; seeds that never got there: 2 and 1 (70B, Qwen) -> none."""
    return min(bounds.growth, 1 + bounds.resolution * 2 ** steps)


def _step_by_ttft(bounds: LoadBounds, ttft_excess: float) -> float:
    """The factor of the next step down from a failing load the twin predicted where TTFT is what
    binds: TTFT's ratio to its limit there (at least the resolution, at most ``growth``). Past
    saturation a closed loop's requests queue, so TTFT grows about in proportion to the load and
    load / ratio lands near the boundary. TPOT does not (it levels off at the step time of the
    largest batch): on the 70B tight-TPOT surface, stepping down by TPOT's ratio overshot and
    raised the median GPU-hours to 3% from 0.81 to 1.01 (worlds 2-3, seeds 0-1). Not up either:
    below saturation TTFT has a floor, and a passing level's ratio says little about how far the
    boundary is. On the shared-prefix benchmark surface, in a world whose engine is 1.5x slower than the twin,
    the twin's best config failed its predicted 90 users at p90 TTFT 2.09 s of 1.5 s; the steps
    from the hint measured 82, 68 and 49 users before one passed, 1.39x takes it to 65 at once.

    >>> _step_by_ttft(LoadBounds(resolution=0.1, growth=2.0), 1.39)
    1.39
    >>> _step_by_ttft(LoadBounds(resolution=0.1, growth=2.0), 1.03)
    1.1
    """
    return min(bounds.growth, max(1 + bounds.resolution, ttft_excess))


def _untried(load: int, tried: set[int], low: int, high: int) -> int | None:
    """``load`` clamped to [low, high], moved to the nearest load not measured yet (None: all were)."""
    load = min(high, max(low, load))
    for step in range(high - low + 1):
        for candidate in (load - step, load + step):
            if low <= candidate <= high and candidate not in tried:
                return candidate
    return None


def _saturated(bounds: LoadBounds, probes: Sequence[Probe], lo: int) -> bool:
    """Whether the last growth step (to ``lo``) raised throughput by less than ``saturation_gain``
    per full growth step (prorated); steps under 1.5x are too small to tell from noise."""
    below = [p for p in probes if p.passed and p.load < lo]
    if not below:
        return False
    previous = max(below, key=lambda p: p.load)
    top = max((p for p in probes if p.load == lo), key=lambda p: p.throughput)
    ratio = lo / previous.load
    if ratio < 1.5:
        return False
    return top.throughput < previous.throughput * (1 + bounds.saturation_gain * (ratio - 1) / (bounds.growth - 1))


__all__ = ["LoadBounds", "Probe", "boundary", "next_load"]
