"""What a trial reports after each level, or once when it cannot go on: one typed record shared by
the trainable, the load sweep, the driver's recorder, the results tables, the hub and the progress
printer. Ray Tune carries it as a flat dict; :meth:`TrialReport.to_tune` and
:meth:`TrialReport.from_tune` are the only places that know the dict's keys::

    report = sweep.report()                       # in the trial
    return report.to_tune()                       # Trainable.step's result
    report = TrialReport.from_tune(result)        # in a callback on the driver
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from autotuner.bench.result import LevelResult

# Fields of LevelResult that Tune's dict leaves out (a per-code dict, and what the status says).
_UNREPORTED_LEVEL_FIELDS = ("error_codes", "all_failed")
_LEVEL_FIELDS = tuple(f.name for f in fields(LevelResult) if f.name not in _UNREPORTED_LEVEL_FIELDS)


@dataclass(frozen=True)
class TrialReport:
    """A trial's state after its latest level: that level, the score so far, its bound and
    constraint, the status (``running``, ``done``, ``failed``, ``rejected``) and ``done`` once the
    trial has nothing more to run."""

    level: int  # levels run so far
    gpus: int
    score: float
    feasible: bool
    violation: float  # > 0 when infeasible: how far from the SLOs (the sampler's constraint)
    score_bound: float | None  # the most the trial can still reach; None: not bounded yet
    boundary: tuple[tuple[str, int], ...]  # per scenario, the load of its best passing level
    status: str
    reason: str
    done: bool = False
    bound_note: str = ""  # why score_bound holds
    best_level: int | None = None  # 1-based number of the level that gave the score
    measured: LevelResult | None = None  # the level this report is about; None for a final report
    meets_slo: bool = False  # whether that level met the SLOs
    load_note: str = ""  # why that load: "start", "grow", "narrow 16-32", "repeat 2/3"
    engine_startup_s: float | None = None
    log_tail: str = ""  # the engine's last lines, for a failed trial
    remeasured_repeats: int | None = None  # a re-measurement, once complete: the spread of its repeats
    remeasured_passed: int | None = None
    remeasured_mean: float | None = None
    remeasured_min: float | None = None
    remeasured_max: float | None = None
    remeasured_stdev: float | None = None
    remeasured_loads: tuple[tuple[str, int], ...] | None = None
    time: float | None = None  # when the driver received it (Tune's timestamp)

    @property
    def output_tok_s_per_gpu(self) -> float | None:
        """The measured level's output tokens/s per GPU."""
        return None if self.measured is None else self.measured.output_tok_s / max(self.gpus, 1)

    def to_tune(self) -> dict[str, Any]:
        """The flat dict Tune's searcher, scheduler and callbacks receive (lists, never nested
        dicts: Tune flattens those)."""
        out: dict[str, Any] = {
            "level": self.level, "gpus": self.gpus, "score": self.score, "feasible": self.feasible,
            "violation": self.violation, "score_bound": self.score_bound, "bound_note": self.bound_note,
            "boundary": list(self.boundary), "status": self.status, "reason": self.reason, "done": self.done,
            "best_level": -1 if self.best_level is None else self.best_level,
        }
        if self.measured is not None:
            level = asdict(self.measured)
            out.update({name: level[name] for name in _LEVEL_FIELDS}, meets_slo=self.meets_slo,
                       output_tok_s_per_gpu=self.output_tok_s_per_gpu, load_note=self.load_note)
        if self.engine_startup_s is not None:
            out["engine_startup_s"] = self.engine_startup_s
        if self.log_tail:
            out["log_tail"] = self.log_tail
        for name in REMEASURED_REPORT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "remeasured_loads" else value
        return out

    @classmethod
    def from_tune(cls, result: dict[str, Any]) -> TrialReport:
        """The report back from the dict Tune passes to callbacks (``result`` or ``last_result``)."""
        measured = (LevelResult(**{name: result[name] for name in _LEVEL_FIELDS if name in result})
                    if "scenario" in result else None)
        best = result.get("best_level")
        loads = result.get("remeasured_loads")
        remeasured = {name: result.get(name) for name in REMEASURED_REPORT_FIELDS if name != "remeasured_loads"}
        return cls(
            level=int(result.get("level", 0)), gpus=int(result.get("gpus", 0)), score=float(result.get("score", 0.0)),
            feasible=bool(result.get("feasible")), violation=float(result.get("violation") or 0.0),
            score_bound=result.get("score_bound"), boundary=_pairs(result.get("boundary")),
            status=result.get("status", "running"), reason=result.get("reason", ""), done=bool(result.get("done")),
            bound_note=result.get("bound_note", ""), best_level=best if best is not None and best > 0 else None,
            measured=measured, meets_slo=bool(result.get("meets_slo")), load_note=result.get("load_note", ""),
            engine_startup_s=result.get("engine_startup_s"), log_tail=result.get("log_tail", ""),
            remeasured_loads=None if loads is None else _pairs(loads), time=result.get("timestamp"), **remeasured)


def _pairs(items: Any) -> tuple[tuple[str, int], ...]:
    return tuple((str(k), int(v)) for k, v in items or ())


REMEASURED_REPORT_FIELDS = ("remeasured_repeats", "remeasured_passed", "remeasured_mean", "remeasured_min",
                            "remeasured_max", "remeasured_stdev", "remeasured_loads")

__all__ = ["REMEASURED_REPORT_FIELDS", "TrialReport"]
