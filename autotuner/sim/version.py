"""The simulator's version: a hash of its sources, named wherever a simulated result is shown."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # autotuner/


def _sources() -> list[Path]:
    """What the simulated numbers follow from: the simulator, the model and GPU facts, and the
    engines' recorded option tables (their defaults) with the code that reads them."""
    files = [*(_PACKAGE / "sim").rglob("*.py"), *(_PACKAGE / "facts").glob("*.py"),
             _PACKAGE / "flavors" / "option_table.py", _PACKAGE / "flavors" / "argparse_replay.py",
             *(p for p in (_PACKAGE / "flavors" / "options").glob("*.json") if not p.name.endswith(".verdicts.json"))]
    return sorted(files)


@lru_cache(maxsize=1)
def simulator_version() -> str:
    """16 hex digits of the SHA-256 of the simulator's sources (changes whenever the model does)."""
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


__all__ = ["simulator_version"]
