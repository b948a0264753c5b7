"""The simulator's version: a hash of its sources, named wherever a simulated result is shown."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def simulator_version() -> str:
    """16 hex digits of the SHA-256 of ``autotuner/sim/*.py`` (changes whenever the model does)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


__all__ = ["simulator_version"]
