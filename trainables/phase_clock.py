"""Wall-clock marks of one trial's phases, written to ``<trial dir>/timing.json`` at teardown.

They let the orchestration overhead be measured from outside (``benchmarks/overhead.py``): what a
slot spends on the Ray worker, the engine, genai-bench's start-up, level gaps and teardown::

    clock = PhaseClock()                # first thing in setup
    clock.mark("engine_ready")
    clock.append("level_reported")      # once per level
    clock.write(work_dir / "timing.json")

Times are ``time.time()`` seconds, comparable across the trial's processes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil


class PhaseClock:
    """Named marks (one time each) and series (a time per occurrence)."""

    def __init__(self) -> None:
        self.marks: dict[str, Any] = {"process_started": psutil.Process(os.getpid()).create_time(),
                                      "setup_started": time.time()}

    def mark(self, name: str, once: bool = False) -> None:
        """Record now under ``name`` (``once``: keep the first time only)."""
        if not (once and name in self.marks):
            self.marks[name] = time.time()

    def append(self, name: str) -> None:
        self.marks.setdefault(name, []).append(time.time())

    def write(self, path: Path, **extra: Any) -> None:
        path.write_text(json.dumps({**self.marks, **extra}, indent=1))


__all__ = ["PhaseClock"]
