"""A benchmark surface: one model on one GPU type under one workload, with a discrete search space.

A surface file (``benchmarks/surfaces/*.yaml``) holds the task exactly as a user would write it
(``task:``, a :class:`~autotuner.task.spec.TaskSpec`), plus what the baselines need that a task does not
say: the hand-set parameters a vLLM ``auto_tune.sh`` user would fix (``auto_tune_fixed:``), and
how its SLO follows the benchmark's hidden worlds (``world_slo:``, :mod:`benchmarks.worlds`)::

    name: llama8b-h100
    title: Llama-3.1-8B on H100
    task: {...}                        # a valid TaskSpec; budget.trials and seed are overridden
    auto_tune_fixed: {tp_size: 1, ...}
    world_slo: fixed                   # or scaled: the latency limits stretch with the world's steps

``scaled`` is for a surface whose SLO sits just above what the engine can do at all (a tight TPOT):
in a world whose steps are slower it would be met nowhere, so there the user's SLO keeps its
distance from the engine instead (TPOT x the decode factor, TTFT x the prefill factor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from autotuner.task.load import require_valid
from autotuner.task.spec import TaskSpec

if TYPE_CHECKING:
    from benchmarks.worlds import World

SURFACES_DIR = Path(__file__).resolve().parent / "surfaces"


@dataclass(frozen=True)
class Surface:
    name: str
    title: str
    task: TaskSpec
    auto_tune_fixed: dict[str, Any]
    world_slo: Literal["fixed", "scaled"] = "fixed"

    def with_search(self, *, seed: int, trials: int, algorithm: str = "tpe", early_stopping: str = "bound",
                    prior: str = "none") -> TaskSpec:
        """The task as a campaign with this seed, trial budget and search settings would run it
        (``prior: none``, today's search, unless a contender asks for the twin)."""
        search = self.task.search.model_copy(update={"algorithm": algorithm, "early_stopping": early_stopping,
                                                     "prior": prior})
        budget = self.task.budget.model_copy(update={"trials": trials})
        return self.task.model_copy(update={"seed": seed, "search": search, "budget": budget})

    def in_world(self, world: World) -> Surface:
        """The surface as the user of ``world`` has it (its SLO scaled there when ``world_slo: scaled``)."""
        if self.world_slo == "fixed" or world.unchanged:
            return self
        slo = self.task.objective.slo
        scaled = slo.model_copy(update={
            "ttft_p90_s": None if slo.ttft_p90_s is None else slo.ttft_p90_s * world.cost.prefill_gpu,
            "tpot_p90_s": None if slo.tpot_p90_s is None else slo.tpot_p90_s * world.cost.decode_gpu})
        objective = self.task.objective.model_copy(update={"slo": scaled})
        return replace(self, task=self.task.model_copy(update={"objective": objective}))


def load_surface(path: str | Path) -> Surface:
    """Read and check a surface file (the task must be valid, like any campaign's)."""
    path = Path(path)
    if not path.exists():
        path = SURFACES_DIR / f"{path.name}.yaml"
    data = yaml.safe_load(path.read_text())
    world_slo = data.get("world_slo", "fixed")
    if world_slo not in ("fixed", "scaled"):
        raise ValueError(f"{path}: world_slo must be fixed or scaled, got {world_slo!r}")
    return Surface(name=data["name"], title=data["title"], task=require_valid(data["task"]),
                   auto_tune_fixed=dict(data.get("auto_tune_fixed") or {}), world_slo=world_slo)


__all__ = ["SURFACES_DIR", "Surface", "load_surface"]
