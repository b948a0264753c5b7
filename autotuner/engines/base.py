"""The engine-backend protocol: how an OpenAI-compatible server for one trial comes and goes.

A backend turns a trial's engine config into a running server and gives back its base URL.
The trainable always uses it as a context manager, so teardown runs in ``finally`` even when
early stopping stops the trial or the benchmark fails::

    backend = LocalProcessEngine(settings)
    with backend.deploy(request) as server:
        run_benchmark(server.base_url, server.served_model_name)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

# The Ray resources trials claim their GPU slots in (autotuner/campaign/placement.py).
SIMULATED_GPU = "simulated_gpu"  # the simulator's: it needs no GPU, and must not take real ones
GPU = "GPU"


class EngineStartError(RuntimeError):
    """The engine did not come up. ``reason`` is one line for the trial table; ``log_tail`` the
    last lines of the engine's own log (or the Kubernetes events) that explain it."""

    def __init__(self, reason: str, log_tail: str = "", *, infeasible: bool = True):
        super().__init__(reason if not log_tail else f"{reason}\n{log_tail}")
        self.reason = reason
        self.log_tail = log_tail
        # True when the config itself cannot start (OOM, not enough KV memory): the search should
        # learn to avoid it. False for infrastructure trouble (port clash, API down).
        self.infeasible = infeasible


@dataclass(frozen=True)
class DeployRequest:
    """Everything a backend needs to bring up one trial's engine."""

    campaign_id: str
    trial_id: str
    engine_args: Mapping[str, Any]  # the flavor's parameter name -> value, e.g. {"tp_size": 2}
    served_model_name: str
    work_dir: Path  # the trial's folder: logs and rendered manifests go here
    gpu_ids: Sequence[str] = field(default_factory=tuple)  # Ray-assigned GPU ids (local backend)


@dataclass(frozen=True)
class TrialSlots:
    """Where a backend's trials claim their GPU slots."""

    resource: str  # the Ray resource a trial's tp_size*dp_size slots are counted in
    missing_hint: str  # what to do when no node of the cluster offers it
    # ray.init keyword arguments of a Ray the campaign starts for itself, declaring budget.gpus slots
    local_ray: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunningEngine:
    """A server that answered its readiness check."""

    base_url: str  # server root without /v1, as genai-bench's --api-base wants it
    served_model_name: str
    startup_s: float  # wall time from deploy start until ready
    log_path: Path | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def check_alive(self) -> str | None:
        """None while the engine still runs, else why it stopped (backends may override)."""
        return None


@runtime_checkable
class EngineBackend(Protocol):
    """One way of running an engine (local process, OME InferenceService ...), registered by its
    ``engine.backend`` name in :mod:`autotuner.engines.backends`."""

    name: str

    @classmethod
    def from_spec(cls, spec: TaskSpec, api_key: str | None = None) -> EngineBackend:
        """The backend configured from a task (``api_key``: the key ``spec.engine.api_key`` names,
        :func:`autotuner.engines.api_key.api_key_for`)."""
        ...

    @classmethod
    def trial_slots(cls, spec: TaskSpec) -> TrialSlots:
        """The Ray resource the task's trials claim their GPU slots in, and what to do when no node
        offers it (:mod:`autotuner.campaign.placement`)."""
        ...

    @classmethod
    def collect_garbage(cls, spec: TaskSpec, campaign_id: str) -> list[str] | None:
        """Remove what crashed runs of the campaign left behind, returning what was removed; None
        when this backend leaves nothing behind a process (``autotuner gc`` says so)."""
        ...

    def deploy(self, request: DeployRequest) -> contextlib.AbstractContextManager[RunningEngine]:
        """Bring the engine up; the context's exit tears it down and waits until it is gone.

        Raises :class:`EngineStartError` when it cannot become ready.
        """
        ...


def tail_lines(path: Path, n: int = 20) -> str:
    """The last ``n`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64_000))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-n:])


__all__ = [
    "GPU",
    "SIMULATED_GPU",
    "DeployRequest",
    "EngineBackend",
    "EngineStartError",
    "RunningEngine",
    "TrialSlots",
    "tail_lines",
]
