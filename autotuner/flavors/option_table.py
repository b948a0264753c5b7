"""An engine version's recorded option table, and what its parser says about an argv.

``tools/engine_options.py`` records, from the engine's own parser, one JSON table per engine
version under ``autotuner/flavors/options/`` (see docs/engine-options.md). This module reads a
table and answers through :mod:`autotuner.flavors.argparse_replay`, which replays Python 3.11
argparse's acceptance rules for an argv against it.

>>> table = {"engine": "demo", "version": "1", "parser": {"allow_abbrev": True}, "positionals": [],
...          "options": [{"dest": "tp_size", "flags": ["--tp-size"], "nargs": None, "type": "int"}]}
>>> check_argv(table, ["--tp-size", "two"])
["argument --tp-size: invalid int value: 'two'"]
>>> check_argv(table, ["--tp", "2"])
[]
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from autotuner.flavors.argparse_replay import replay

OPTIONS_DIR = Path(__file__).with_name("options")


class UnknownTable(LookupError):
    """No table was recorded for this engine version."""


def table_path(engine: str, version: str) -> Path:
    """Where the table of ``engine`` at ``version`` lives."""
    return OPTIONS_DIR / f"{engine}-{version}.json"


def recorded_versions(engine: str) -> list[str]:
    """Versions of ``engine`` with a recorded table, oldest first."""
    versions = [p.stem.split("-", 1)[1] for p in OPTIONS_DIR.glob(f"{engine}-*.json")
                if not p.name.endswith(".verdicts.json")]
    return sorted(versions, key=_version_key)


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.+]", version))


@lru_cache(maxsize=None)
def _read_table(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def load_table(engine: str, version: str) -> dict[str, Any]:
    """The recorded option table of ``engine`` at ``version``.

    Raises UnknownTable naming the versions that were recorded.
    """
    return copy.deepcopy(shared_table(engine, version))


def shared_table(engine: str, version: str) -> Mapping[str, Any]:
    """The same table without the copy, shared by every caller, so never to be changed: for the
    parses that only read it (the twin parses thousands of argvs; the copy took 16 ms each)."""
    path = table_path(engine, version)
    if not path.is_file():
        known = ", ".join(recorded_versions(engine)) or "none"
        raise UnknownTable(f"no option table for {engine} {version}; recorded versions: {known}")
    return _read_table(path)


def table_default(engine: str, version: str, dest: str) -> Any:
    """The default the parser of ``engine`` at ``version`` gives ``dest``."""
    for option in load_table(engine, version)["options"]:
        if option["dest"] == dest:
            return option.get("default")
    raise KeyError(f"{engine} {version} has no option {dest!r}")


def option_for(table: Mapping[str, Any], flag: str) -> dict[str, Any] | None:
    """The option registered under exactly ``flag``, or None."""
    return next((option for option in table.get("options", ()) if flag in option["flags"]), None)


def check_argv(table: Mapping[str, Any], argv: Sequence[str]) -> list[str]:
    """Errors the engine's parser reports for ``argv`` (argparse stops at the first), or []."""
    return replay(table, argv).errors


def deprecation_warnings(table: Mapping[str, Any], argv: Sequence[str]) -> list[str]:
    """Deprecated flags ``argv`` uses, one line each (the parser accepts them with a warning)."""
    return replay(table, argv).warnings


def parsed_values(table: Mapping[str, Any], argv: Sequence[str]) -> dict[str, Any]:
    """The table's defaults by dest, overridden by what ``argv`` sets (the namespace argparse
    returns). Raises ValueError with the parser's message when ``argv`` is rejected."""
    verdict = replay(table, argv)
    if verdict.errors:
        raise ValueError(verdict.errors[0])
    defaults: dict[str, Any] = {}
    for option in [*table.get("positionals", ()), *table.get("options", ())]:
        defaults.setdefault(option["dest"], option.get("default"))
    return {**defaults, **verdict.values}


__all__ = ["OPTIONS_DIR", "UnknownTable", "check_argv", "deprecation_warnings", "load_table", "option_for",
           "parsed_values", "recorded_versions", "shared_table", "table_default", "table_path"]
