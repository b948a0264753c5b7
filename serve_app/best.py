"""The best config of a campaign as the task page shows it: the final one from best_config.json
once the campaign has ended, the best trial so far while it runs::

    best = best_config(snapshot)
    best.launch_command_line          # python -m sglang.launch_server --model-path ... --tp-size 1 ...
    manifest_yaml(snapshot)           # the OME InferenceService of that config, as YAML
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from autotuner.engines.sglang_args import launch_command
from autotuner.k8s.best_manifest import FILE_NAME, best_inference_service
from autotuner.k8s.manifests import dump_manifest
from autotuner.results import TrialRecord, pick_best
from serve_app.live import CampaignSnapshot


@dataclass(frozen=True)
class BestConfig:
    trial_id: str
    score: float
    engine_args: dict[str, Any]
    gpus: int
    launch_command_line: str
    final: bool  # from best_config.json (the campaign ended), not the best so far


def best_config(snap: CampaignSnapshot) -> BestConfig | None:
    """The final best config, or the best so far (computed once per snapshot)."""
    if "best" not in snap.memo:
        snap.memo["best"] = _best_config(snap)
    return snap.memo["best"]


def _best_config(snap: CampaignSnapshot) -> BestConfig | None:
    if snap.best:
        b = snap.best
        return BestConfig(b["trial_id"], b["score"], b["engine_args"], b.get("gpus", 0), b["launch_command_line"], True)
    best = pick_best(TrialRecord.from_row(row) for row in snap.trials.values())
    if best is None or snap.spec is None:
        return None
    argv = launch_command(snap.spec.model.path or snap.spec.model.name, best.config,
                          served_model_name=snap.spec.model.served_model_name)
    return BestConfig(best.trial_id, best.score or 0.0, best.config, best.gpus, shlex.join(argv), False)


def manifest_yaml(snap: CampaignSnapshot) -> str | None:
    """The InferenceService the campaign wrote for its best config, or one rendered from the best
    config so far (None when there is no feasible config yet)."""
    written = snap.folder / FILE_NAME
    if snap.best and written.is_file():
        return written.read_text()
    best = best_config(snap)
    if best is None or snap.spec is None:
        return None
    return dump_manifest(best_inference_service(snap.spec, best.engine_args, snap.meta.get("id", snap.task_id),
                                                best.trial_id))
