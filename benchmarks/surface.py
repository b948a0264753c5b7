"""A benchmark surface: one model on one GPU type under one workload, with a discrete search space.

A surface file (``benchmarks/surfaces/*.yaml``) holds the task exactly as a user would write it
(``task:``, a :class:`~autotuner.task.spec.TaskSpec`), plus what the baselines need that a task does not
say: the hand-set parameters a vLLM ``auto_tune.sh`` user would fix (``auto_tune_fixed:``)::

    name: llama8b-h100
    title: Llama-3.1-8B on H100
    task: {...}                        # a valid TaskSpec; budget.trials and seed are overridden
    auto_tune_fixed: {tp_size: 1, ...}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autotuner.task.load import require_valid
from autotuner.task.spec import TaskSpec

SURFACES_DIR = Path(__file__).resolve().parent / "surfaces"


@dataclass(frozen=True)
class Surface:
    name: str
    title: str
    task: TaskSpec
    auto_tune_fixed: dict[str, Any]

    def with_search(self, *, seed: int, trials: int, algorithm: str = "tpe", early_stopping: str = "bound",
                    prior: str = "none") -> TaskSpec:
        """The task as a campaign with this seed, trial budget and search settings would run it
        (``prior: none``, today's search, unless a contender asks for the twin)."""
        search = self.task.search.model_copy(update={"algorithm": algorithm, "early_stopping": early_stopping,
                                                     "prior": prior})
        budget = self.task.budget.model_copy(update={"trials": trials})
        return self.task.model_copy(update={"seed": seed, "search": search, "budget": budget})


def load_surface(path: str | Path) -> Surface:
    """Read and check a surface file (the task must be valid, like any campaign's)."""
    path = Path(path)
    if not path.exists():
        path = SURFACES_DIR / f"{path.name}.yaml"
    data = yaml.safe_load(path.read_text())
    return Surface(name=data["name"], title=data["title"], task=require_valid(data["task"]),
                   auto_tune_fixed=dict(data.get("auto_tune_fixed") or {}))


__all__ = ["SURFACES_DIR", "Surface", "load_surface"]
