"""The best config of a campaign: the one source of "best" for every part of the app (the task
page's header and best-config box, the tasks page's column, the charts' highlighted trial).

While a run goes on it is the best trial so far, picked by the campaign's own rule
(:func:`autotuner.results.folder.pick_best`); once no run is live it is best_config.json, what the
campaign wrote (with its re-measurement and provenance when present)::

    best = best_config(snapshot)
    best.score, best.launch_command_line
    best.spread_text()                # "mean 1012 [985-1040] over 3 repeats"
    manifest_yaml(snapshot)           # the OME InferenceService of that config, as YAML
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autotuner.results.best_manifest import best_inference_service
from autotuner.k8s.manifests import dump_manifest
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import Spread, pick_best

if TYPE_CHECKING:
    from serve_app.live import CampaignSnapshot


@dataclass(frozen=True)
class BestConfig:
    trial_id: str
    score: float
    engine_args: dict[str, Any]
    gpus: int
    launch_command_line: str
    final: bool  # from best_config.json (no run is live), not the best so far
    remeasured: Spread | None = None  # mean, min, max, stdev, repeats of the score
    provenance: dict[str, Any] = field(default_factory=dict)  # engine, GPU, model, workload, SLOs, tuner
    engine_notes: list[str] = field(default_factory=list)  # what the engine changes behind a flag

    def spread_text(self) -> str:
        """The re-measured score as ``mean 1012 [985-1040] over 3 repeats``; empty without one."""
        return self.remeasured.text() if self.remeasured else ""

    @property
    def simulated(self) -> bool:
        """Whether the numbers come from the simulator, not a real engine."""
        return "simulator" in str(self.provenance.get("engine", "")).lower()

    def provenance_text(self) -> str:
        """``engine: simulator 0.3 · GPU: H100 · model: ...``, in the order the campaign wrote them."""
        return " · ".join(f"{k}: {_short(v)}" for k, v in self.provenance.items() if v not in (None, "", {}, []))


def best_config(snap: CampaignSnapshot) -> BestConfig | None:
    """The best config of a snapshot (computed once per snapshot)."""
    if "best" not in snap.memo:
        snap.memo["best"] = _best_config(snap)
    return snap.memo["best"]


def _best_config(snap: CampaignSnapshot) -> BestConfig | None:
    if snap.best and not snap.live:  # a live resume's best_config.json is the previous run's
        b = snap.best
        return BestConfig(b.trial_id, b.score, b.engine_args, b.gpus, b.launch_command_line, True, b.remeasured,
                          b.provenance, b.engine_notes)
    best = pick_best(snap.trials.values())
    if best is None or snap.spec is None:
        return None
    argv = snap.spec.launch_command(best.config)
    return BestConfig(best.trial_id, best.score or 0.0, best.config, best.gpus, shlex.join(argv), False,
                      engine_notes=snap.spec.behaviour_notes(best.config))


def manifest_yaml(snap: CampaignSnapshot) -> str | None:
    """The InferenceService the campaign wrote for its best config, or one rendered from the best
    config so far (None when there is no feasible config yet)."""
    written = CampaignFolder(snap.folder).manifest_path
    best = best_config(snap)
    if best is not None and best.final and written.is_file():
        return written.read_text()
    if best is None or snap.spec is None:
        return None
    return dump_manifest(best_inference_service(snap.spec, best.engine_args, snap.meta.id or snap.task_id,
                                                best.trial_id))


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
