"""Calibration of the twin from measured levels: fit a handful of its parameters so that its
levels match what the engine measured, then predict (and re-rank) the configs not tried yet.

The parameters scale the simulator's step times where a real engine differs most from it (its step
times were 0.55-0.99 of real H100/H200 ones, and prefill and decode are off by different factors):

* ``decode``: factor on the GPU time of every decode step;
* ``prefill``: factor on the GPU time of every prefill step;
* ``cpu_overhead``: factor on the per-step and per-request CPU work (scheduler, sampling, launches).

:func:`fit` searches them (a coarse grid, then a pattern search; from the previous fit when one is
given) to minimise the squared log error of throughput, p90 TTFT and p90 TPOT over
the measured levels, each predicted by the steady-state model at the level's own scenario,
concurrency and request count::

    calibration = fit(twin, [(config, level), ...])
    report = calibration_report(twin, observations, calibration)   # how far before / after
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from autotuner.bench.result import LevelResult
from autotuner.results.records import TwinAccuracy
from autotuner.sim import MemoryPlan, StartupFailure, plan_memory
from autotuner.sim.cost import StepCost
from autotuner.sim.scenario import SharedPrefix
from autotuner.twin.predict import Twin, TwinUnavailable
from autotuner.task.spec import TaskSpec
from autotuner.twin.steady import Calibration, SteadyLevelModel

METRICS = ("output_tok_s", "ttft_p90_s", "tpot_p90_s")
ACCURACY_LEVELS = 200  # a campaign's accuracy is measured on its most recent this many levels
DECODE_GRID = tuple(0.5 * 1.25 ** i for i in range(11))  # 0.5 .. 4.7
PREFILL_GRID = DECODE_GRID
PATTERN_STEPS = (1.25, 1.1, 1.04, 1.015)  # the pattern search's factor steps, coarse to fine

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
                f"CPU overheads x{c.cpu_overhead:.2f}): median error before {fmt(self.before)}; after {fmt(self.after)}")


def _plans(twin: Twin, observations: Sequence[Observation]) -> list[tuple[MemoryPlan, LevelResult]]:
    out = []
    for config, level in observations:
        try:
            out.append((plan_memory(twin.args(config)), level))
        except StartupFailure:
            continue  # the engine started where the twin says it cannot: no level to compare
    return out


def _predicted(plan: MemoryPlan, level: LevelResult, calibration: Calibration, prefix: SharedPrefix | None) -> LevelResult:
    model = SteadyLevelModel(plan, StepCost(plan, calibration.scale), prefix)
    return model.level(level.scenario, level.concurrency, level.num_requests)


def _loss(pairs: Sequence[tuple[MemoryPlan, LevelResult]], calibration: Calibration,
          prefix: SharedPrefix | None) -> float:
    total = 0.0
    for plan, measured in pairs:
        predicted = _predicted(plan, measured, calibration, prefix)
        for name in METRICS:
            m, p = getattr(measured, name), getattr(predicted, name)
            if m and p and m > 0 and p > 0:
                total += math.log(p / m) ** 2
    return total


def usable(level: LevelResult) -> bool:
    """Whether a measured level can calibrate: complete (not ended early) and not all failed."""
    return not level.all_failed and not level.ended_early and level.num_completed > 0 and level.output_tok_s > 0


def fit(twin: Twin, observations: Sequence[Observation], previous: Calibration | None = None) -> Calibration:
    """The calibration that makes the twin's levels closest to ``observations`` (identity without any).

    From scratch: the best of an 11 x 11 grid of the two step factors, then a pattern search over
    all three factors (each multiplied and divided by a step that shrinks from 1.25 to 1.015 while
    no move helps). From ``previous`` (a fit on fewer of the same levels, as a campaign refits
    level after level): the pattern search from there, with a smaller first step."""
    pairs = _plans(twin, [(c, lv) for c, lv in observations if usable(lv)])
    if not pairs:
        return Calibration()

    def loss(c: Calibration) -> float:
        return _loss(pairs, c, twin.prefix)

    if previous is None:
        best = min((Calibration(d, p) for d in DECODE_GRID for p in PREFILL_GRID), key=loss)
        steps = PATTERN_STEPS
    else:
        best, steps = previous, PATTERN_STEPS[1:]
    best_loss = loss(best)
    for step in steps:
        improved = True
        while improved:
            improved = False
            for name in ("decode", "prefill", "cpu_overhead"):
                for factor in (step, 1.0 / step):
                    moved = replace(best, **{name: getattr(best, name) * factor})
                    moved_loss = loss(moved)
                    if moved_loss < best_loss - 1e-12:
                        best, best_loss, improved = moved, moved_loss, True
    return best


def calibration_report(twin: Twin, observations: Sequence[Observation], calibration: Calibration) -> CalibrationReport:
    """Median relative errors of the twin's levels against ``observations``, uncalibrated and calibrated."""
    pairs = _plans(twin, [(c, lv) for c, lv in observations if usable(lv)])

    def errors(cal: Calibration) -> dict[str, float]:
        out = {}
        for name in METRICS:
            rel = [abs(getattr(_predicted(plan, lv, cal, twin.prefix), name) - getattr(lv, name)) / getattr(lv, name)
                   for plan, lv in pairs if getattr(lv, name)]
            out[name] = statistics.median(rel) if rel else 0.0
        return out

    return CalibrationReport(len(pairs), calibration, errors(Calibration()), errors(calibration))


def campaign_accuracy(spec: TaskSpec, folder: Path, most_recent: int = ACCURACY_LEVELS) -> TwinAccuracy | None:
    """How far the twin was from a campaign folder's measured levels (the most recent
    ``most_recent`` usable ones), before and after calibrating it on them; None when the twin
    cannot model the task or no level can calibrate."""
    from autotuner.sim.version import simulator_version

    try:
        twin = Twin(spec)
    except TwinUnavailable:
        return None
    observations = [o for o in measured_levels(folder) if usable(o[1])][-most_recent:]
    if not _plans(twin, observations):
        return None
    report = calibration_report(twin, observations, fit(twin, observations))
    d = report.to_dict()
    return TwinAccuracy(simulator=simulator_version(), levels=report.levels, calibration=d["calibration"],
                        before=d["before"], after=d["after"])


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


__all__ = ["ACCURACY_LEVELS", "CalibrationReport", "campaign_accuracy", "measured_levels", "METRICS", "Observation", "calibration_report", "fit",
           "usable"]
