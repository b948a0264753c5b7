"""What an ``output`` folder may be, and what a campaign folder must hold: checked before the
tuner writes or deletes anything there.

The tuner writes into a folder only when it is new, empty, or a campaign folder: one whose
``campaign.json`` carries the tuner's fields (``id``, ``name`` and a campaign status). Anything
else that is not empty (a home folder, ``/etc``, a project checkout, a symlink to one) is refused,
so a mistyped ``--output`` never loses a file. A campaign folder whose tables cannot be read, or
whose Tune state says trials ran while ``trials.parquet`` is gone, is refused too: starting over
would replace what is left of it::

    guard_output(Path("runs/quickstart"))     # FolderError (one line) when refused
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from autotuner.campaign.lock import FolderInUse, read_owner
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import CampaignStatus

MARKER_FIELDS = ("id", "name", "status")  # what makes a campaign.json the tuner's
# The task file a submitter (the web app) puts in a new campaign folder before starting the job
# that runs it; the tuner never writes it, so a folder holding only it may be used.
SUBMITTED_TASK_FILE = CampaignFolder.SUBMITTED_TASK
TABLES = (CampaignFolder.TRIALS, CampaignFolder.LEVELS)


class FolderError(RuntimeError):
    """The output folder cannot be used as it is; the message is one line saying why and what to do."""


class NotACampaignFolder(FolderError):
    """The folder holds files that are not a campaign's."""


class DamagedCampaign(FolderError):
    """A campaign folder whose campaign.json or tables cannot be read."""


class IncompleteCampaign(FolderError):
    """A campaign folder that lacks a file its history says it wrote."""


def check_output_text(output: str | None) -> None:
    """Refuse an ``output`` that no file system takes (a NUL in it), before any path is resolved."""
    if output and "\x00" in output:
        raise FolderError(f"output {output!r} contains a NUL character: set a folder path without it")


def check_output_path(folder: Path) -> None:
    """Refuse a path that cannot be a campaign folder: a NUL in it, an existing file, a folder
    this process cannot write into."""
    check_output_text(str(folder))
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"output {folder} is a file, not a folder: set a folder (new, empty, or a campaign's)")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise FolderError(f"cannot write in {existing} (read-only or permission denied): set another output folder")


def is_lock_file(name: str) -> bool:
    """The campaign lock and its records (autotuner/campaign/lock.py), written before campaign.json."""
    return name == CampaignFolder.LOCK or name.startswith(f".{CampaignFolder.LOCK}.")


def read_marker(folder: Path) -> dict[str, Any] | None:
    """campaign.json when it is the tuner's (None when there is none); :class:`DamagedCampaign` when
    it cannot be read or is not the tuner's."""
    path = CampaignFolder(folder).meta_path
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DamagedCampaign(f"{path} cannot be read ({_short(err)}): it is left as it is; restore it from a "
                              "backup, or set another output folder") from None
    if not isinstance(meta, dict) or any(k not in meta for k in MARKER_FIELDS) or meta["status"] not in CampaignStatus._value2member_map_:
        raise DamagedCampaign(f"{path} is not a campaign record of autotuner (it needs {', '.join(MARKER_FIELDS)} "
                              "and a campaign status): set another output folder")
    return meta


def table_rows(path: Path) -> int | None:
    """How many rows a campaign table holds (None when it does not exist); :class:`DamagedCampaign`
    when it cannot be read (truncated, not Parquet)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    try:
        return pq.read_table(path).num_rows
    except (OSError, ValueError) as err:
        raise DamagedCampaign(f"{path} cannot be read ({_short(err)}): it is left as it is; restore it from a "
                              "backup, or set another output folder") from None


def require_readable(folder: Path) -> dict[str, int | None]:
    """The rows of each campaign table (None: not written yet), once campaign.json and the tables
    are known to be readable; :class:`DamagedCampaign` otherwise."""
    read_marker(folder)
    return {name: table_rows(folder / name) for name in TABLES}


def tune_ran(tune_dir: Path) -> bool:
    """Whether Tune saved the state of a started experiment there (it does so only after the
    campaign's recorder was set up, which writes trials.parquet first)."""
    return tune_dir.is_dir() and any(tune_dir.glob("experiment_state*.json"))


def guard_output(folder: Path, *, tune_dirs: tuple[str, ...] = (CampaignFolder.TUNE, CampaignFolder.REMEASURE_TUNE)) -> None:
    """A :class:`FolderError` unless ``folder`` is one the tuner may write into (see the module's
    docstring). Reads only: nothing is created, changed or deleted."""
    check_output_path(folder)
    if not folder.exists():
        return
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError as err:
        raise FolderError(f"cannot read the folder {folder} ({_short(err)}): set another output folder") from None
    meta = read_marker(folder)
    if meta is None:
        holder = read_owner(folder)
        if holder is not None and holder.is_alive():  # a driver that is starting: the lock says so
            raise FolderError(str(FolderInUse(folder, holder)))
        others = sorted(n for n in names if not is_lock_file(n) and n != SUBMITTED_TASK_FILE)
        written = [n for n in TABLES if n in others] + [f"{d}/" for d in tune_dirs if tune_ran(folder / d)]
        if written:
            raise IncompleteCampaign(f"{folder} holds what a campaign writes ({', '.join(written)}) but no "
                                     f"{CampaignFolder.META}: nothing was changed; restore it from a backup, or set another "
                                     "output folder")
        if others:
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            raise NotACampaignFolder(
                f"{folder} is not empty and is not a campaign folder (no {CampaignFolder.META} of autotuner; it holds "
                f"{shown}): nothing was written there; set a new or empty folder as output")
        return
    rows = require_readable(folder)
    missing = [name for name, count in rows.items() if count is None]
    ran = [d for d in tune_dirs if tune_ran(folder / d)]
    if ran and missing:
        raise IncompleteCampaign(
            f"{folder} lacks {' and '.join(missing)}, which its Tune state ({', '.join(d + '/' for d in ran)}) says "
            "the campaign wrote: nothing was changed; restore the file(s) from a backup, or set another output folder")
    if len(missing) == 1:
        raise IncompleteCampaign(f"{folder} has {TABLES[1 - TABLES.index(missing[0])]} but lacks {missing[0]}: "
                                 "nothing was changed; restore it from a backup, or set another output folder")


def describe_os_error(err: OSError) -> str:
    """An OSError in one line, saying what to do about the usual ones (a full disk, a read-only folder)."""
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    if err.errno == errno.ENOSPC:
        return f"no space left on the device{where}: free some space, then resume the campaign with --resume"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write{where}: {err.strerror or err} (set an output folder this process can write into)"
    return f"{err.strerror or err}{where}"


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


__all__ = ["DamagedCampaign", "FolderError", "IncompleteCampaign",
           "MARKER_FIELDS", "NotACampaignFolder", "SUBMITTED_TASK_FILE", "check_output_path", "check_output_text", "describe_os_error", "guard_output",
           "read_marker", "require_readable", "table_rows", "tune_ran"]
