"""Which backend a task uses: one line per backend."""

from __future__ import annotations

from autotuner.engines.base import EngineBackend
from autotuner.spec import TaskSpec


def make_backend(spec: TaskSpec, api_key: str | None = None) -> EngineBackend:
    """The engine backend a task spec asks for, configured from it; ``api_key``: the key that
    ``spec.engine.api_key`` names (:func:`autotuner.api_key.api_key_for`)."""
    if spec.engine.backend == "ome":
        from autotuner.engines.ome import from_task_spec as ome_from_spec

        return ome_from_spec(spec, api_key)
    from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine

    local = spec.engine.local
    command = local.command if isinstance(local.command, str) else list(local.command)
    settings = LocalEngineSettings(
        command=command,
        flavor=spec.engine.flavor,
        version=spec.engine.version,
        model_path=spec.model.path or spec.model.tokenizer or spec.model.name,
        sim_gpu=spec.engine.gpu,
        sim_model=spec.model.name,
        sim_startup_scale=local.startup_time_scale,
        sim_seed=spec.seed,
        tokenizer_path=spec.model.tokenizer,
        extra_args=list(local.extra_args),
        env=dict(local.env),
        ready_timeout_s=local.ready_timeout_s,
        api_key=api_key,
        **({"python": local.python} if local.python else {}),
    )
    return LocalProcessEngine(settings)
