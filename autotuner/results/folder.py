"""The campaign's results on disk: every level of every trial, one row per trial, the best config.

Layout of a campaign folder::

    campaign.json          id, name, status (the CAMPAIGN_* values), times, error
    campaign.lock          who runs the campaign now, with a heartbeat (autotuner/campaign/driver/driver/lock.py)
    spec.yaml              the task as run
    levels.parquet         one row per (trial, level): config, load, metrics, score so far, and
                           how far the host held it back (autotuner/trial/host_distortion.py)
    trials.parquet         one row per trial: config, phase, status, reason, score, SLO boundary,
                           and for re-measurement trials the spread of their repeats
    best_config.json       the answer: the re-measured winner, its spread, its provenance and
                           its ready launch command
    best_launch_command.txt
    trials/<trial_id>/     engine.log, genai-bench output
    tune/, tune-remeasure/ Ray Tune's experiment state of the search and of the re-measurement

Only the Tune driver writes these files (through :class:`ResultsRecorder`), so there is a single
writer; each write goes to a temporary file that is renamed over the old one.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from autotuner.flavors import all_param_names
from autotuner.trial.host_distortion import MAX_RUNS, unscored
from autotuner.trial.report import REMEASURED_REPORT_FIELDS, TrialReport

LEVEL_METRICS = (
    "output_tok_s", "output_tok_s_per_gpu", "input_tok_s", "requests_per_s",
    "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_p90_s",
    "error_rate", "num_requests", "num_errors", "duration_s",
    "server_lag", "server_late_s", "client_lag_s", "client_cpu",  # how far the host held the level back
)

# Trial statuses, as shown by the CLI and the web app.
PENDING, DEPLOYING, RUNNING, DONE, STOPPED_EARLY, FAILED, REJECTED, INTERRUPTED = (
    "pending", "deploying", "running", "done", "stopped early", "failed", "rejected", "interrupted")
# Campaign phases a trial belongs to: the search, then the re-measurement of the best configs.
SEARCH, REMEASURE = "search", "remeasure"
# What trials.parquet keeps of a re-measurement's report (its loads are in levels.parquet).
REMEASURED_FIELDS = tuple(name for name in REMEASURED_REPORT_FIELDS if name != "remeasured_loads")


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically: readers, and a resume after a crash or a full disk, see the
    old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Campaign statuses (campaign.json). "starting" until Ray is up and the placement checked, then
# "running"; a run ends "finished", "stopped" (a stop was asked: `ray job stop`, Ctrl-C, the web
# app), "interrupted" (it ended short by itself) or "failed" (an error, in campaign.json's "error").
CAMPAIGN_STARTING, CAMPAIGN_RUNNING, CAMPAIGN_FINISHED, CAMPAIGN_STOPPED, CAMPAIGN_INTERRUPTED, CAMPAIGN_FAILED = (
    "starting", "running", "finished", "stopped", "interrupted", "failed")
ACTIVE_CAMPAIGN_STATUSES = (CAMPAIGN_STARTING, CAMPAIGN_RUNNING)  # a driver is (or was, if it died) at work
RESUMABLE_CAMPAIGN_STATUSES = (CAMPAIGN_STOPPED, CAMPAIGN_INTERRUPTED, CAMPAIGN_FAILED)
META_FILE = "campaign.json"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (readers never see half a file)."""
    write_text(path, json.dumps(data, indent=2, default=str))


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as a Parquet table atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({}), tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk: the old table stays, without a half-written copy beside it
        tmp.unlink(missing_ok=True)
        raise


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a Parquet table ([] when it does not exist yet)."""
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """Engine parameters as ``param.<name>`` columns, plus the whole config as JSON."""
    names = all_param_names()
    cols = {f"param.{k}": v for k, v in sorted(config.items()) if k in names}
    cols["config_json"] = json.dumps({k: v for k, v in sorted(config.items()) if k in names})
    return cols


def level_row(trial_id: str, config: dict[str, Any], report: TrialReport) -> dict[str, Any]:
    """One row of levels.parquet from a trial's report of a measured level."""
    level = report.measured
    assert level is not None, "a final report measured no level"
    row = {"trial_id": trial_id, "level": report.level, "scenario": level.scenario,
           "concurrency": level.concurrency, "load_note": report.load_note, "gpus": report.gpus,
           # a level the host distorted in every run is neither a pass nor a fail
           "meets_slo": None if unscored(level) else report.meets_slo, "score": float(report.score),
           "feasible": report.feasible, "time": float(report.time or time.time()),
           "distortion": level.distortion, "distorted_runs": level.distorted_runs}
    metrics = {**level.to_dict(), "output_tok_s_per_gpu": report.output_tok_s_per_gpu}
    row.update({m: _num(metrics.get(m)) for m in LEVEL_METRICS})
    row.update(config_columns(config))
    return row


def host_distorted_levels(levels: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The levels the host distorted (levels.parquet rows) and what was done, for best_config.json."""
    out = []
    for r in sorted(levels, key=lambda r: (r["trial_id"], r["level"])):
        runs = r.get("distorted_runs") or 0
        if not runs:
            continue
        if r.get("distortion") and runs < MAX_RUNS:
            done = "scored, marked (workload.host_distortion: mark)"
        elif r.get("distortion"):
            done = "refused: not scored, the trial ended there"
        else:
            done = f"run again: run {runs + 1} was undistorted and counts"
        out.append({"trial_id": r["trial_id"], "level": r["level"], "scenario": r["scenario"],
                    "concurrency": r["concurrency"], "distorted_runs": runs, "distortion": r.get("distortion") or "",
                    "done": done})
    return out


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass
class TrialRecord:
    """What is known about one trial (a row of trials.parquet)."""

    trial_id: str
    config: dict[str, Any]
    phase: str = SEARCH
    status: str = PENDING
    gpus: int = 0
    levels_run: int = 0
    score: float | None = None
    feasible: bool = False
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
        row["boundary_json"] = json.dumps(self.boundary, sort_keys=True)
        row.update(config_columns(self.config))
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "TrialRecord":
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row and k not in ("config", "boundary")}
        return cls(config=json.loads(row.get("config_json") or "{}"),
                   boundary=json.loads(row.get("boundary_json") or "{}"), **fields)


def has_valid_score(trial: TrialRecord) -> bool:
    """Whether a trial's score may stand for its config: it met the SLOs somewhere and its engine
    did not fail (a score measured before an engine died mid-level recommends a config that crashes)."""
    return trial.feasible and trial.score is not None and trial.status not in (FAILED, REJECTED)


def pick_best(trials: Iterable[TrialRecord]) -> TrialRecord | None:
    """The search's best: the trial with the highest valid score (:func:`has_valid_score`),
    preferring ones whose load search ran to the end."""
    feasible = [t for t in trials if t.phase == SEARCH and has_valid_score(t)]
    complete = [t for t in feasible if t.status == DONE]
    pool = complete or feasible
    return max(pool, key=lambda t: t.score) if pool else None


def pick_remeasured(trials: Iterable[TrialRecord]) -> TrialRecord | None:
    """The answer after the re-measurement: the best mean among re-measured configs whose repeats
    met the SLOs on average at some load (None when none did)."""
    done = [t for t in trials if t.phase == REMEASURE and t.remeasured_mean is not None]
    return max(done, key=lambda t: t.remeasured_mean) if done else None


def write_best(folder: Path, best: TrialRecord, levels: list[dict[str, Any]], *, launch_command: list[str],
               objective_unit: str, api_key_env: str | None = None,
               extra: dict[str, Any] | None = None, comment: str | None = None) -> dict[str, Any]:
    """best_config.json and best_launch_command.txt for the winning trial, whose engine starts with
    ``launch_command`` (the flavor's, :meth:`autotuner.task.spec.TaskSpec.launch_command`). ``api_key_env``:
    the variable holding the server's API key; the command reads it (``--api-key "$VAR"``), it never
    contains the key. ``comment``: a line written above the command, as a shell comment."""
    argv = list(launch_command)
    line = shlex.join(argv)
    if api_key_env:  # a variable name (checked by the spec), expanded by the shell that runs the line
        argv += ["--api-key", f"${api_key_env}"]
        line += f' --api-key "${api_key_env}"'
    rows = sorted((r for r in levels if r["trial_id"] == best.trial_id), key=lambda r: r["level"])
    data = {
        "trial_id": best.trial_id, "score": best.score, "score_unit": objective_unit,
        "status": best.status, "engine_args": best.config, "gpus": best.gpus,
        "best_level": best.best_level, "levels": rows,
        "launch_command": argv, "launch_command_line": line, **(extra or {}),
    }
    write_json(folder / "best_config.json", data)
    write_text(folder / "best_launch_command.txt", (f"# {comment}\n" if comment else "") + line + "\n")
    return data


def read_meta(folder: Path) -> dict[str, Any]:
    """campaign.json of a folder ({} when there is none)."""
    path = folder / META_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def update_meta(folder: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into campaign.json (atomically); returns the new content."""
    meta = {**read_meta(folder), **fields}
    write_meta(folder, meta)
    return meta


META_RESERVE_BYTES = 4096  # campaign.json's size on disk at least: room for its last update on a full disk


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write campaign.json atomically, padded (JSON allows trailing blanks) to reserve its space:
    when the disk is full, the update that records how the campaign ended is written over the old
    bytes in place, so the status never stays "running" for want of a few bytes."""
    text = json.dumps(meta, indent=2, default=str)
    text += " " * max(0, META_RESERVE_BYTES - len(text.encode()) - 1) + "\n"
    path = folder / META_FILE
    try:
        write_text(path, text)
    except OSError as err:
        if err.errno != errno.ENOSPC or not path.exists() or path.stat().st_size < len(text.encode()):
            raise
        data = text.encode()  # ends with a newline
        with open(path, "r+b") as f:  # no new blocks: the file already holds this many bytes
            f.write(data[:-1] + b" " * (path.stat().st_size - len(data)) + b"\n")
            f.flush()
            os.fsync(f.fileno())


def load_campaign(folder: Path) -> tuple[dict[str, Any], list[TrialRecord], list[dict[str, Any]]]:
    """(campaign.json, trials, level rows) of a campaign folder."""
    meta = read_meta(folder)
    trials = [TrialRecord.from_row(r) for r in read_rows(folder / "trials.parquet")]
    return meta, trials, read_rows(folder / "levels.parquet")
