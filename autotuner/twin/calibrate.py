"""Calibration of the twin from measured levels: fit a handful of its parameters so that its
levels match what the engine measured, then predict (and re-rank) the configs not tried yet.

The parameters scale the simulator's step times where a real engine differs most from it (its step
times were 0.55-0.99 of real H100/H200 ones, and prefill and decode are off by different factors):

* ``decode``: factor on every decode step's time;
* ``prefill``: factor on every prefill step's time;
* ``step_overhead_s``: seconds added to every step (scheduler and per-request work the model lacks).

:func:`fit` searches them (a coarse grid, then a finer one around the best) to minimise the squared
log error of throughput, p90 TTFT and p90 TPOT over the measured levels, each predicted by the
steady-state model at the level's own scenario, concurrency and request count::

    calibration = fit(twin, [(config, level), ...])
    report = calibration_report(twin, observations, calibration)   # how far before / after
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from autotuner.bench.result import LevelResult
from autotuner.sim import MemoryPlan, StartupFailure, plan_memory
from autotuner.twin.predict import Twin
from autotuner.twin.steady import CalibratedCost, Calibration, SteadyLevelModel

METRICS = ("output_tok_s", "ttft_p90_s", "tpot_p90_s")
DECODE_GRID = tuple(0.5 * 1.25 ** i for i in range(11))  # 0.5 .. 4.7
PREFILL_GRID = DECODE_GRID
OVERHEAD_GRID_S = (0.0, 0.25e-3, 0.5e-3, 1e-3, 2e-3, 4e-3)
REFINE = (0.9, 0.95, 1.0, 1.05, 1.1)

Observation = tuple[dict[str, Any], LevelResult]  # (engine parameters, a level measured with them)


@dataclass(frozen=True)
class CalibrationReport:
    """How far the twin's levels were from the measured ones, before and after calibration: the
    median relative error of each metric over the levels."""

    levels: int
    calibration: Calibration
    before: dict[str, float]
    after: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "calibration": self.calibration.to_dict(),
                "before": {k: round(v, 4) for k, v in self.before.items()},
                "after": {k: round(v, 4) for k, v in self.after.items()}}

    def line(self) -> str:
        fmt = lambda errs: ", ".join(f"{k} {v:.0%}" for k, v in errs.items())
        c = self.calibration
        return (f"twin calibrated on {self.levels} levels (decode x{c.decode:.2f}, prefill x{c.prefill:.2f}, "
                f"+{c.step_overhead_s * 1e3:.2f} ms per step): median error before {fmt(self.before)}; after {fmt(self.after)}")


def _plans(twin: Twin, observations: Sequence[Observation]) -> list[tuple[MemoryPlan, LevelResult]]:
    out = []
    for config, level in observations:
        try:
            out.append((plan_memory(twin.args(config)), level))
        except StartupFailure:
            continue  # the engine started where the twin says it cannot: no level to compare
    return out


def _predicted(plan: MemoryPlan, level: LevelResult, calibration: Calibration) -> LevelResult:
    model = SteadyLevelModel(plan, CalibratedCost(plan, calibration))
    return model.level(level.scenario, level.concurrency, level.num_requests)


def _loss(pairs: Sequence[tuple[MemoryPlan, LevelResult]], calibration: Calibration) -> float:
    total = 0.0
    for plan, measured in pairs:
        predicted = _predicted(plan, measured, calibration)
        for name in METRICS:
            m, p = getattr(measured, name), getattr(predicted, name)
            if m and p and m > 0 and p > 0:
                total += math.log(p / m) ** 2
    return total


def usable(level: LevelResult) -> bool:
    """Whether a measured level can calibrate: complete (not ended early) and not all failed."""
    return not level.all_failed and not level.ended_early and level.num_completed > 0 and level.output_tok_s > 0


def fit(twin: Twin, observations: Sequence[Observation]) -> Calibration:
    """The calibration that makes the twin's levels closest to ``observations`` (identity without any)."""
    pairs = _plans(twin, [(c, lv) for c, lv in observations if usable(lv)])
    if not pairs:
        return Calibration()
    best = min((Calibration(d, p, 0.0) for d in DECODE_GRID for p in PREFILL_GRID), key=lambda c: _loss(pairs, c))
    best = min((Calibration(best.decode, best.prefill, o) for o in OVERHEAD_GRID_S), key=lambda c: _loss(pairs, c))
    return min((Calibration(best.decode * a, best.prefill * b, best.step_overhead_s) for a in REFINE for b in REFINE),
               key=lambda c: _loss(pairs, c))


def calibration_report(twin: Twin, observations: Sequence[Observation], calibration: Calibration) -> CalibrationReport:
    """Median relative errors of the twin's levels against ``observations``, uncalibrated and calibrated."""
    pairs = _plans(twin, [(c, lv) for c, lv in observations if usable(lv)])

    def errors(cal: Calibration) -> dict[str, float]:
        out = {}
        for name in METRICS:
            rel = [abs(getattr(_predicted(plan, lv, cal), name) - getattr(lv, name)) / getattr(lv, name)
                   for plan, lv in pairs if getattr(lv, name)]
            out[name] = statistics.median(rel) if rel else 0.0
        return out

    return CalibrationReport(len(pairs), calibration, errors(Calibration()), errors(calibration))


def measured_levels(folder: Path) -> list[Observation]:
    """Every level a campaign folder holds (its levels table), as observations."""
    from autotuner.results.folder import CampaignFolder

    out = []
    for row in CampaignFolder(folder).read_levels():
        requests, errors = int(row.num_requests or 0), int(row.num_errors or 0)
        level = LevelResult(
            scenario=row.scenario, concurrency=int(row.concurrency), num_requests=requests,
            num_completed=requests - errors, num_errors=errors, error_rate=row.error_rate or 0.0,
            duration_s=row.duration_s or 0.0, output_tok_s=row.output_tok_s or 0.0, input_tok_s=row.input_tok_s or 0.0,
            requests_per_s=row.requests_per_s or 0.0, ttft_p50_s=row.ttft_p50_s, ttft_p90_s=row.ttft_p90_s,
            ttft_p99_s=row.ttft_p99_s, tpot_p50_s=row.tpot_p50_s, tpot_p90_s=row.tpot_p90_s,
            tpot_p99_s=row.tpot_p99_s, e2e_p90_s=row.e2e_p90_s, all_failed=requests == errors,
            ended_early="ended after" if "ended after" in row.load_note else "")
        out.append((dict(row.config), level))
    return out


__all__ = ["CalibrationReport", "measured_levels", "METRICS", "Observation", "calibration_report", "fit",
           "usable"]
