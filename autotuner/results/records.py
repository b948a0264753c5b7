"""The typed records of a campaign folder (:class:`~autotuner.results.folder.CampaignFolder` reads
and writes them): the campaign's meta (campaign.json), one trial (a row of trials.parquet), one
measured level (a row of levels.parquet), the answer (best_config.json) and the twin's accuracy
(twin.json), with the statuses as enums. Each converts to and from its stored form; reading tolerates files of older versions
(missing fields take their defaults, unknown ones are kept)::

    meta = CampaignMeta.from_json(json.loads(text))
    meta.status is CampaignStatus.FINISHED, meta.job_ids, meta.resumes
    TrialRecord.from_row(row).status is TrialStatus.DONE
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable

from autotuner.bench.result import AVERAGED_METRICS
from autotuner.flavors import all_param_names
from autotuner.trial.directive import Phase
from autotuner.trial.host_distortion import MAX_RUNS, unscored
from autotuner.trial.report import REMEASURED_REPORT_FIELDS, TrialReport


class CampaignStatus(StrEnum):
    """``starting`` until Ray is up and the placement checked, then ``running``; a run ends
    ``finished``, ``stopped`` (a stop was asked: `ray job stop`, Ctrl-C, the web app),
    ``interrupted`` (it ended short by itself) or ``failed`` (an error, in the meta's ``error``)."""

    STARTING = "starting"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


ACTIVE_CAMPAIGN_STATUSES = (CampaignStatus.STARTING, CampaignStatus.RUNNING)  # a driver is (or was, if it died) at work
RESUMABLE_CAMPAIGN_STATUSES = (CampaignStatus.STOPPED, CampaignStatus.INTERRUPTED, CampaignStatus.FAILED)


class TrialStatus(StrEnum):
    """A trial's status, as shown by the CLI and the web app."""

    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    DONE = "done"
    STOPPED_EARLY = "stopped early"
    FAILED = "failed"
    REJECTED = "rejected"
    INTERRUPTED = "interrupted"


# A trial with one of these has its final record: a resumed run never deploys it again.
ENDED_TRIAL_STATUSES = (TrialStatus.DONE, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED, TrialStatus.REJECTED)

# What trials.parquet keeps of a re-measurement's report (its loads are in levels.parquet).
REMEASURED_FIELDS = tuple(name for name in REMEASURED_REPORT_FIELDS if name != "remeasured_loads")


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """Engine parameters as ``param.<name>`` columns, plus the whole config as JSON."""
    names = all_param_names()
    cols = {f"param.{k}": v for k, v in sorted(config.items()) if k in names}
    cols["config_json"] = json.dumps({k: v for k, v in sorted(config.items()) if k in names})
    return cols


def _config_of(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row.get("config_json") or "{}")


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _metric() -> Any:
    return field(default=None, metadata={"metric": True})


@dataclass
class LevelRow:
    """One measured level of one trial (a row of levels.parquet): its load, whether it met the
    SLOs, the trial's score so far, the level's metrics and the trial's config."""

    trial_id: str
    level: int
    scenario: str
    concurrency: int
    load_note: str = ""
    gpus: int = 0
    meets_slo: bool | None = False  # None: the host distorted every run of it, neither a pass nor a fail
    score: float = 0.0
    feasible: bool = False
    time: float = 0.0
    distortion: str = ""  # how the host distorted the level (autotuner/trial/host_distortion.py)
    distorted_runs: int = 0  # its runs the host distorted
    output_tok_s: float | None = _metric()
    output_tok_s_per_gpu: float | None = _metric()
    input_tok_s: float | None = _metric()
    requests_per_s: float | None = _metric()
    ttft_p50_s: float | None = _metric()
    ttft_p90_s: float | None = _metric()
    ttft_p99_s: float | None = _metric()
    tpot_p50_s: float | None = _metric()
    tpot_p90_s: float | None = _metric()
    tpot_p99_s: float | None = _metric()
    e2e_p90_s: float | None = _metric()
    error_rate: float | None = _metric()
    num_requests: float | None = _metric()
    num_errors: float | None = _metric()
    duration_s: float | None = _metric()
    # how far the host held the level back (autotuner/bench/host_lag.py)
    server_lag: float | None = _metric()
    server_late_s: float | None = _metric()
    client_lag_s: float | None = _metric()
    client_cpu: float | None = _metric()
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, trial_id: str, config: dict[str, Any], report: TrialReport) -> "LevelRow":
        """The row of a trial's report of a measured level."""
        level = report.measured
        assert level is not None, "a final report measured no level"
        metrics = {**level.to_dict(), "output_tok_s_per_gpu": report.output_tok_s_per_gpu}
        return cls(trial_id=trial_id, level=report.level, scenario=level.scenario, concurrency=level.concurrency,
                   load_note=report.load_note, gpus=report.gpus,
                   meets_slo=None if unscored(level) else report.meets_slo,
                   score=float(report.score), feasible=report.feasible, time=float(report.time or time.time()),
                   distortion=level.distortion, distorted_runs=level.distorted_runs,
                   config=dict(config), **{m: _num(metrics.get(m)) for m in LEVEL_METRICS})

    def to_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"}
        row.update(config_columns(self.config))
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "LevelRow":
        known = {k: row[k] for k in _LEVEL_FIELDS if k in row}
        known["distortion"] = known.get("distortion") or ""  # None in rows written before the column
        known["distorted_runs"] = int(known.get("distorted_runs") or 0)
        return cls(config=_config_of(row), **known)

    @property
    def distorted_note(self) -> str:
        """What was done with a level the host distorted ('' when it was not)."""
        if not self.distorted_runs:
            return ""
        if self.distortion and self.distorted_runs < MAX_RUNS:
            return "scored, marked (workload.host_distortion: mark)"
        if self.distortion:
            return "refused: not scored, the trial ended there"
        return f"run again: run {self.distorted_runs + 1} was undistorted and counts"


@dataclass(frozen=True)
class DistortedLevel:
    """A level the host distorted and what was done (best_config.json's ``host_distorted``)."""

    trial_id: str
    level: int
    scenario: str
    concurrency: int
    distorted_runs: int
    distortion: str
    done: str


def host_distorted_levels(levels: Iterable[LevelRow]) -> list[DistortedLevel]:
    """The levels the host distorted, in trial and level order."""
    return [DistortedLevel(r.trial_id, r.level, r.scenario, r.concurrency, r.distorted_runs, r.distortion,
                           r.distorted_note)
            for r in sorted(levels, key=lambda r: (r.trial_id, r.level)) if r.distorted_runs]


LEVEL_METRICS = tuple(f.name for f in dataclasses.fields(LevelRow) if f.metadata.get("metric"))
_LEVEL_FIELDS = tuple(f.name for f in dataclasses.fields(LevelRow) if f.name != "config")
assert set(AVERAGED_METRICS) <= set(LEVEL_METRICS)


@dataclass
class TrialRecord:
    """What is known about one trial (a row of trials.parquet)."""

    trial_id: str
    config: dict[str, Any]
    phase: Phase = Phase.SEARCH
    status: TrialStatus = TrialStatus.PENDING
    gpus: int = 0
    levels_run: int = 0
    score: float | None = None
    feasible: bool = False
    violation: float | None = None  # the sampler's constraint (None in rows written before it was kept)
    best_level: int | None = None
    boundary: dict[str, int] = field(default_factory=dict)  # scenario -> load of its best passing level
    reason: str = ""
    engine_startup_s: float | None = None
    started: float | None = None
    ended: float | None = None
    bound: float | None = None  # the most it could still reach when it last reported (None: unbounded)
    bound_note: str = ""  # why that bound holds
    remeasure_of: str | None = None  # re-measurement trials: the search trial they measure again
    remeasured_mean: float | None = None
    remeasured_min: float | None = None
    remeasured_max: float | None = None
    remeasured_stdev: float | None = None
    remeasured_repeats: int | None = None
    remeasured_passed: int | None = None
    actor_id: str | None = None  # the Ray actor it ran in (its page in the dashboard shows its logs)

    def to_row(self) -> dict[str, Any]:
        row = {k: v for k, v in self.__dict__.items() if k not in ("config", "boundary")}
        row["phase"], row["status"] = str(self.phase), str(self.status)
        row["boundary_json"] = json.dumps(self.boundary, sort_keys=True)
        row.update(config_columns(self.config))
        return row

    @property
    def has_ended(self) -> bool:
        return self.status in ENDED_TRIAL_STATUSES

    def final_report(self) -> TrialReport:
        """The last report of an ended trial, rebuilt from its record: what the trial reports again,
        without deploying, when Tune restarts it from a saved state older than the folder (Tune's
        save lost the race with ``ray job stop``'s SIGKILL, or the driver crashed). The searcher and
        the stopping rule learn what they learned then; no level is measured again."""
        assert self.has_ended, f"trial {self.trial_id} is {self.status}: it has no final report"
        # Rows of older versions lack the constraint: infeasible by 1 (twice an SLO limit).
        violation = 0.0 if self.feasible else (self.violation if self.violation is not None else 1.0)
        return TrialReport(
            level=self.levels_run, gpus=self.gpus, score=float(self.score or 0.0), feasible=self.feasible,
            violation=violation, score_bound=self.bound, boundary=tuple(self.boundary.items()),
            status=self.status, reason=self.reason, done=True, bound_note=self.bound_note, best_level=self.best_level,
            engine_startup_s=self.engine_startup_s, **{name: getattr(self, name) for name in REMEASURED_FIELDS})

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "TrialRecord":
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row and k not in ("config", "boundary")}
        fields["phase"] = Phase(fields.get("phase") or Phase.SEARCH)
        fields["status"] = TrialStatus(fields.get("status") or TrialStatus.PENDING)
        return cls(config=_config_of(row), boundary=json.loads(row.get("boundary_json") or "{}"), **fields)


def final_reports(trials: Iterable[TrialRecord]) -> dict[str, TrialReport]:
    """Trial id -> :meth:`TrialRecord.final_report` of every trial that has ended."""
    return {t.trial_id: t.final_report() for t in trials if t.has_ended}


def has_valid_score(trial: TrialRecord) -> bool:
    """Whether a trial's score may stand for its config: it met the SLOs somewhere and its engine
    did not fail (a score measured before an engine died mid-level recommends a config that crashes)."""
    return trial.feasible and trial.score is not None and trial.status not in (TrialStatus.FAILED,
                                                                               TrialStatus.REJECTED)


def pick_best(trials: Iterable[TrialRecord]) -> TrialRecord | None:
    """The search's best: the trial with the highest valid score (:func:`has_valid_score`),
    preferring ones whose load search ran to the end."""
    feasible = [t for t in trials if t.phase == Phase.SEARCH and has_valid_score(t)]
    complete = [t for t in feasible if t.status == TrialStatus.DONE]
    pool = complete or feasible
    return max(pool, key=lambda t: t.score) if pool else None


def pick_remeasured(trials: Iterable[TrialRecord]) -> TrialRecord | None:
    """The answer after the re-measurement: the best mean among re-measured configs whose repeats
    met the SLOs on average at some load (None when none did)."""
    done = [t for t in trials if t.phase == Phase.REMEASURE and t.remeasured_mean is not None]
    return max(done, key=lambda t: t.remeasured_mean) if done else None


def _known(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` split into the fields of dataclass ``cls`` and the rest (kept, never dropped)."""
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


@dataclass(frozen=True)
class CampaignRun:
    """One run of a campaign: the first start or a resume, with its Ray job."""

    started: float | None = None
    ray_job_id: str | None = None
    resume: bool = False
    ran_nothing: bool = False  # it found the campaign finished (a resubmitted job)


@dataclass(frozen=True)
class CampaignMeta:
    """campaign.json: the campaign's id, name, status, times and how it ended. ``started`` is the
    first run's start and stays (time axes start there); ``runs`` lists every run, the first and
    each resume, so a resumed campaign is one campaign with several jobs."""

    id: str = ""
    name: str = ""
    status: CampaignStatus | None = None
    started: float | None = None
    ended: float | None = None
    host: str | None = None
    ray_job_id: str | None = None
    budget_trials: int = 0
    objective: str | None = None
    error: str | None = None
    cleanup_error: str | None = None
    stop_signal: str | None = None
    runs: tuple[CampaignRun, ...] = ()
    best_trial: str | None = None
    best_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys of other versions, kept as read

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        data["status"] = None if self.status is None else str(self.status)
        data["runs"] = [dataclasses.asdict(run) for run in self.runs]
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CampaignMeta":
        known, extra = _known(cls, data)
        status = known.get("status")
        known["status"] = CampaignStatus(status) if status in CampaignStatus._value2member_map_ else None
        known["runs"] = tuple(CampaignRun(**_known(CampaignRun, run)[0]) for run in known.get("runs") or ())
        known["budget_trials"] = int(known.get("budget_trials") or 0)
        return cls(extra=extra, **known)

    def with_run(self, *, ray_job_id: str | None, resume: bool, now: float) -> "CampaignMeta":
        """This meta with a run that starts now (a resume, or a new start that begins a new history)."""
        run = CampaignRun(started=now, ray_job_id=ray_job_id, resume=resume)
        if resume:
            return dataclasses.replace(self, started=self.started if self.started is not None else now,
                                       runs=(*self.runs, run))
        return dataclasses.replace(self, started=now, runs=(run,))

    def with_idle_run(self, *, ray_job_id: str, now: float) -> "CampaignMeta":
        """This meta once a run found the campaign finished and ran nothing (a resubmitted job):
        listed, so that its job is shown as the campaign's, not as a task of its own."""
        return dataclasses.replace(self, runs=(*self.runs, CampaignRun(started=now, ray_job_id=ray_job_id,
                                                                       ran_nothing=True)))

    @property
    def job_ids(self) -> tuple[str, ...]:
        """The Ray jobs that ran the campaign (each run's, and the current ``ray_job_id``)."""
        ids = [run.ray_job_id for run in self.runs] + [self.ray_job_id]
        return tuple(dict.fromkeys(i for i in ids if i))

    @property
    def resumes(self) -> tuple[float, ...]:
        """When each resume of the campaign started."""
        return tuple(run.started for run in self.runs if run.resume and run.started)

    @property
    def active(self) -> bool:
        """A driver is (or was, if it died) at work."""
        return self.status in ACTIVE_CAMPAIGN_STATUSES


@dataclass(frozen=True)
class Spread:
    """The re-measurement of one config: its repeats' mean, range and how many met the SLOs."""

    trial_id: str = ""
    of_trial: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    stdev: float | None = None
    repeats: int | None = None
    passed: int | None = None
    loads: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, record: TrialRecord) -> "Spread":
        return cls(trial_id=record.trial_id, of_trial=record.remeasure_of, config=dict(record.config),
                   mean=record.remeasured_mean, min=record.remeasured_min, max=record.remeasured_max,
                   stdev=record.remeasured_stdev, repeats=record.remeasured_repeats,
                   passed=record.remeasured_passed, loads=dict(record.boundary))

    def text(self) -> str:
        """``mean 1012 [985-1040] over 3 repeats``; empty without a mean."""
        if self.mean is None:
            return ""
        spread = f" [{self.min:.4g}-{self.max:.4g}]" if self.min is not None and self.max is not None else ""
        repeats = f" over {self.repeats} repeats" if self.repeats else ""
        return f"mean {self.mean:.4g}{spread}{repeats}"


@dataclass(frozen=True)
class BestAnswer:
    """best_config.json: the recommended config, its score (the re-measured mean when there is
    one), its spread, its provenance and its ready launch command."""

    trial_id: str
    score: float
    engine_args: dict[str, Any]
    launch_command_line: str
    score_unit: str = ""
    status: TrialStatus = TrialStatus.DONE
    gpus: int = 0
    best_level: int | None = None
    launch_command: list[str] = field(default_factory=list)
    levels: list[LevelRow] = field(default_factory=list)
    search_score: float | None = None
    remeasured: Spread | None = None
    candidates: list[Spread] = field(default_factory=list)
    answer_note: str = ""
    boundary: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)  # engine, GPU, model, workload, SLOs, tuner
    inference_service_manifest: str | None = None
    engine_notes: list[str] = field(default_factory=list)  # what the engine changes behind a flag
    host_distorted: list[DistortedLevel] = field(default_factory=list)  # the levels the host distorted
    launch_comment: str | None = None  # a line above the launch command (e.g. that the simulator found it)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys of other versions, kept as read

    @classmethod
    def of(cls, best: TrialRecord, levels: Iterable[LevelRow], *, launch_command: list[str], objective_unit: str,
           api_key_env: str | None = None, **fields: Any) -> "BestAnswer":
        """The answer for the winning search trial, whose engine starts with ``launch_command`` (the
        flavor's, :meth:`autotuner.task.spec.TaskSpec.launch_command`). ``api_key_env``: the
        variable holding the server's API key; the command reads it (``--api-key "$VAR"``), it
        never contains the key. ``fields``: the other fields (score, spread, provenance ...)."""
        argv = list(launch_command)
        line = shlex.join(argv)
        if api_key_env:  # a variable name (checked by the spec), expanded by the shell that runs the line
            argv += ["--api-key", f"${api_key_env}"]
            line += f' --api-key "${api_key_env}"'
        rows = sorted((r for r in levels if r.trial_id == best.trial_id), key=lambda r: r.level)
        return cls(**{"score": best.score, **fields}, trial_id=best.trial_id, score_unit=objective_unit,
                   status=best.status, engine_args=best.config, gpus=best.gpus, best_level=best.best_level,
                   levels=rows, launch_command=argv, launch_command_line=line)

    def to_json(self) -> dict[str, Any]:
        head = {"trial_id": self.trial_id, "score": self.score, "score_unit": self.score_unit,
                "status": str(self.status), "engine_args": self.engine_args, "gpus": self.gpus,
                "best_level": self.best_level, "levels": [r.to_row() for r in self.levels],
                "launch_command": self.launch_command, "launch_command_line": self.launch_command_line}
        rest = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in {*head, "extra"}}
        rest["remeasured"] = None if self.remeasured is None else dataclasses.asdict(self.remeasured)
        rest["candidates"] = [dataclasses.asdict(c) for c in self.candidates]
        rest["host_distorted"] = [dataclasses.asdict(d) for d in self.host_distorted]
        return {**self.extra, **head, **rest}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BestAnswer":
        known, extra = _known(cls, data)
        known["status"] = TrialStatus(known.get("status") or TrialStatus.DONE)
        known["gpus"] = int(known.get("gpus") or 0)
        known["levels"] = [LevelRow.from_row(r) for r in known.get("levels") or ()]
        spread = known.get("remeasured")
        known["remeasured"] = Spread(**_known(Spread, spread)[0]) if spread else None
        known["candidates"] = [Spread(**_known(Spread, c)[0]) for c in known.get("candidates") or ()]
        known["engine_notes"] = list(known.get("engine_notes") or ())
        known["host_distorted"] = [DistortedLevel(**_known(DistortedLevel, d)[0]) for d in known.get("host_distorted") or ()]
        known["provenance"] = dict(known.get("provenance") or {})
        return cls(extra=extra, **known)


@dataclass(frozen=True)
class TwinAccuracy:
    """twin.json: how far the twin (the simulator at ``simulator``) was from the campaign's measured
    levels, as the median relative error of each metric, before and after it was calibrated on
    them (``calibration``: its fitted factors, :mod:`autotuner.twin.calibrate`)."""

    simulator: str
    levels: int
    calibration: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]

    def line(self) -> str:
        """``twin (simulator ...) vs 54 measured levels: median error output_tok_s 12% -> 2%, ...``"""
        errors = ", ".join(f"{k} {self.before[k]:.0%} -> {self.after.get(k, 0.0):.0%}" for k in self.before)
        factors = ", ".join(f"{k} x{v:.2f}" for k, v in self.calibration.items())
        return (f"twin (simulator {self.simulator}) vs {self.levels} measured levels: median error before -> after "
                f"calibration: {errors} (fitted: {factors})")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TwinAccuracy":
        return cls(**_known(cls, data)[0])


__all__ = ["ACTIVE_CAMPAIGN_STATUSES", "BestAnswer", "CampaignMeta", "CampaignRun", "CampaignStatus",
           "ENDED_TRIAL_STATUSES", "LEVEL_METRICS", "LevelRow", "REMEASURED_FIELDS", "RESUMABLE_CAMPAIGN_STATUSES",
           "Spread", "TrialRecord", "TrialStatus", "TwinAccuracy", "config_columns", "final_reports", "pick_best",
           "pick_remeasured"]
