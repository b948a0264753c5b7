"""The winning config as an OME InferenceService, ready for ``kubectl apply -f``.

With the ``ome`` backend the model, runtime and namespace are the campaign's; with a local
backend they are guesses from the model id that the user reviews before applying. Its campaign
label is ``<campaign>-best`` so that ``autotuner gc`` of the campaign never deletes the deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from autotuner.k8s.manifests import dump_manifest, render_inference_service
from autotuner.k8s.names import MAX_ISVC_NAME_LEN, slug
from autotuner.results.folder import CampaignFolder
from autotuner.task.spec import TaskSpec

def best_inference_service(spec: TaskSpec, engine_args: Mapping[str, Any], campaign_id: str,
                           trial_id: str) -> dict[str, Any]:
    """The InferenceService that serves ``engine_args`` with the campaign's model and engine."""
    ome = spec.engine.ome
    flavor = spec.engine.engine_flavor
    model_name = ome.base_model if ome else slug(spec.model.name.rsplit("/", 1)[-1])
    ref = spec.engine.api_key
    return render_inference_service(
        name=slug(spec.name)[: MAX_ISVC_NAME_LEN - 5] + "-best",
        namespace=ome.namespace if ome else "default",
        campaign_id=f"{campaign_id}-best", trial_id=trial_id, model_name=model_name,
        runtime_name=ome.runtime if ome else None,
        engine_flags=flavor.config_argv(engine_args, spec.engine.version or ""),
        gpu_count=flavor.gpus_needed(engine_args), served_model_name=spec.model.served_model_name,
        command=list(ome.command_override) if ome and ome.command_override else flavor.ome_command(),
        # The served config keeps the key the campaign's servers had (from the same Secret).
        api_key_secret=(ref.secret_name, ref.secret_key) if ref and ref.secret_name else None)


def write_best_manifest(spec: TaskSpec, engine_args: Mapping[str, Any], folder: Path, campaign_id: str,
                        trial_id: str) -> Path:
    return CampaignFolder(folder).write_manifest(
        dump_manifest(best_inference_service(spec, engine_args, campaign_id, trial_id)))
