"""A problem found in a task spec, and the constants both the typed spec and its rules need.

Kept apart so that :mod:`autotuner.task.spec` (the typed model, which runs the rules) and
:mod:`autotuner.task.rules` (the rules) both import it without importing each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from autotuner.facts.gpus import GPUS

CAMPAIGN_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
GPU_TYPES = tuple(GPUS)
MISSING = object()  # the value of a required field that is absent


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec."""

    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {_short(self.value)} -- {self.message}"


def _short(value: Any) -> str:
    if value is MISSING:
        return "(missing)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
