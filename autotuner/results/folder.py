"""A campaign folder: every file of a campaign, by name, read and written as typed records.

Layout (the names live here only)::

    campaign.json          the campaign's meta (CampaignMeta): id, name, status, times, runs, error
    campaign.lock          who runs the campaign now, with a heartbeat (autotuner/campaign/lock.py)
    spec.yaml              the task as run
    levels.parquet         one row per (trial, level) (LevelRow): config, load, metrics, score so far
    trials.parquet         one row per trial (TrialRecord): config, phase, status, reason, score, SLO
                           boundary, and for re-measurement trials the spread of their repeats
    best_config.json       the answer (BestAnswer): the re-measured winner, its spread, its provenance
                           and its ready launch command
    best_launch_command.txt
    best_inferenceservice.yaml   the answer as an OME InferenceService
    twin.json              how far the twin was from the measured levels, before and after calibration
    report.png             the chart of `autotuner report`
    task.yaml              the task as the web app received it (submitted there)
    trials/<trial_id>/     timing.json, reason.txt, and the engine's log and genai-bench's output
    tune/, tune-remeasure/ Ray Tune's experiment state of the search and of the re-measurement

::

    folder = CampaignFolder(Path("runs/quickstart"))
    meta, trials, levels = folder.load()
    folder.update_meta(status=CampaignStatus.RUNNING)

Only the campaign's driver writes these files (its tables through :class:`ResultsRecorder`), so
there is a single writer; each write goes to a temporary file that is renamed over the old one.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from autotuner.results.records import BestAnswer, CampaignMeta, LevelRow, TrialRecord, TwinAccuracy
from autotuner.task.load import load_spec
from autotuner.task.spec import Problem, TaskSpec


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


META_RESERVE_BYTES = 4096  # campaign.json's size on disk at least: room for its last update on a full disk


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a Parquet table ([] when it does not exist yet)."""
    if not path.exists():
        return []
    return pq.read_table(path).to_pylist()


class CampaignFolder:
    """The files of one campaign folder (see the module's docstring)."""

    META = "campaign.json"
    LOCK = "campaign.lock"
    SPEC = "spec.yaml"
    LEVELS = "levels.parquet"
    TRIALS = "trials.parquet"
    BEST = "best_config.json"
    TWIN = "twin.json"  # how far the twin was from the measured levels (TwinAccuracy)
    LAUNCH_COMMAND = "best_launch_command.txt"
    MANIFEST = "best_inferenceservice.yaml"
    REPORT = "report.png"
    SUBMITTED_TASK = "task.yaml"  # the task as the web app received it, before the run wrote spec.yaml
    TRIAL_DIRS = "trials"
    TRIAL_TIMING = "timing.json"  # in a trial's folder: its phase times (trainables/phase_clock.py)
    TRIAL_REASON = "reason.txt"  # in a trial's folder: why it could not go on
    TUNE = "tune"
    REMEASURE_TUNE = "tune-remeasure"
    # The files whose changes a reader of a running campaign follows (the web app).
    WATCHED = (META, TRIALS, LEVELS, BEST, SPEC)

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"CampaignFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CampaignFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- paths --

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def meta_path(self) -> Path:
        return self.path / self.META

    @property
    def lock_path(self) -> Path:
        return self.path / self.LOCK

    @property
    def spec_path(self) -> Path:
        return self.path / self.SPEC

    @property
    def levels_path(self) -> Path:
        return self.path / self.LEVELS

    @property
    def trials_path(self) -> Path:
        return self.path / self.TRIALS

    @property
    def best_path(self) -> Path:
        return self.path / self.BEST

    @property
    def launch_command_path(self) -> Path:
        return self.path / self.LAUNCH_COMMAND

    @property
    def manifest_path(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def report_path(self) -> Path:
        return self.path / self.REPORT

    @property
    def submitted_task_path(self) -> Path:
        return self.path / self.SUBMITTED_TASK

    @property
    def trials_dir(self) -> Path:
        return self.path / self.TRIAL_DIRS

    def trial_dir(self, trial_id: str) -> Path:
        return self.trials_dir / trial_id

    def trial_timing_path(self, trial_id: str) -> Path:
        return self.trial_dir(trial_id) / self.TRIAL_TIMING

    @property
    def tune_dir(self) -> Path:
        """Tune's experiment state of the search."""
        return self.path / self.TUNE

    @property
    def remeasure_tune_dir(self) -> Path:
        """Tune's experiment state of the re-measurement."""
        return self.path / self.REMEASURE_TUNE

    def is_campaign(self) -> bool:
        """Whether a campaign was ever started here (it has campaign.json)."""
        return self.meta_path.exists()

    # -- campaign.json --

    def read_meta(self) -> CampaignMeta | None:
        """campaign.json (None when there is none); ValueError when it is not a campaign's JSON."""
        if not self.meta_path.exists():
            return None
        data = json.loads(self.meta_path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{self.meta_path} is not a JSON object")
        return CampaignMeta.from_json(data)

    def write_meta(self, meta: CampaignMeta) -> None:
        """campaign.json, atomically, padded (JSON allows trailing blanks) to reserve its space:
        when the disk is full, the update that records how the campaign ended is written over the
        old bytes in place, so the status never stays "running" for want of a few bytes."""
        text = json.dumps(meta.to_json(), indent=2, default=str)
        text += " " * max(0, META_RESERVE_BYTES - len(text.encode()) - 1) + "\n"
        path = self.meta_path
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

    def update_meta(self, **fields: Any) -> CampaignMeta:
        """Set ``fields`` (CampaignMeta's) in campaign.json (atomically); returns the new meta."""
        meta = dataclasses.replace(self.read_meta() or CampaignMeta(), **fields)
        self.write_meta(meta)
        return meta

    # -- spec.yaml --

    def read_spec(self) -> tuple[TaskSpec | None, list[Problem]]:
        return load_spec(self.spec_path)

    def write_spec(self, spec: TaskSpec) -> None:
        write_text(self.spec_path, spec.to_yaml())

    # -- the tables --

    def read_trials(self) -> list[TrialRecord]:
        return [TrialRecord.from_row(row) for row in read_rows(self.trials_path)]

    def read_levels(self) -> list[LevelRow]:
        return [LevelRow.from_row(row) for row in read_rows(self.levels_path)]

    def write_trials(self, trials: list[TrialRecord]) -> None:
        write_parquet(self.trials_path, [t.to_row() for t in trials])

    def write_levels(self, levels: list[LevelRow]) -> None:
        write_parquet(self.levels_path, [lv.to_row() for lv in levels])

    def has_trials(self) -> bool:
        """Whether any trial started (trials.parquet has a row)."""
        return bool(read_rows(self.trials_path))

    # -- the answer --

    def read_best(self) -> BestAnswer | None:
        if not self.best_path.exists():
            return None
        return BestAnswer.from_json(json.loads(self.best_path.read_text()))

    def write_best(self, best: BestAnswer) -> None:
        """best_config.json and best_launch_command.txt (its comment line first, as a shell comment)."""
        write_json(self.best_path, best.to_json())
        comment = f"# {best.launch_comment}\n" if best.launch_comment else ""
        write_text(self.launch_command_path, comment + best.launch_command_line + "\n")

    def read_twin(self) -> TwinAccuracy | None:
        path = self.file(self.TWIN)
        return TwinAccuracy.from_json(json.loads(path.read_text())) if path.exists() else None

    def write_twin(self, accuracy: TwinAccuracy) -> None:
        write_json(self.file(self.TWIN), accuracy.to_json())

    def write_manifest(self, text: str) -> Path:
        write_text(self.manifest_path, text)
        return self.manifest_path

    def load(self) -> tuple[CampaignMeta, list[TrialRecord], list[LevelRow]]:
        """(campaign.json, trials, level rows); an empty meta when there is no campaign.json."""
        return self.read_meta() or CampaignMeta(), self.read_trials(), self.read_levels()


__all__ = ["CampaignFolder", "read_rows", "write_json", "write_parquet", "write_text"]
