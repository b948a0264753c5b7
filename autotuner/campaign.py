"""The campaign API: run a validated task with Ray Tune, Optuna and ASHA; resume one; read it back.

The CLI, ``ray job submit`` and the web app all go through :func:`run_campaign`::

    spec = require_valid(yaml.safe_load(open("examples/quickstart.yaml")))
    result = run_campaign(spec)
    print(result.best["launch_command_line"])
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TextIO

from autotuner.campaign_runs import run_fields
from autotuner.results import INTERRUPTED, TrialRecord, load_campaign, pick_best, write_best, write_json
from autotuner.spec import SpecError, TaskSpec, load_spec, require_valid

TUNE_DIR = "tune"


@dataclass
class CampaignResult:
    folder: Path
    status: str  # finished | interrupted
    trials: list[TrialRecord]
    best: dict[str, Any] | None
    wall_s: float


class CampaignError(RuntimeError):
    """The campaign cannot start (folder in use, nothing to resume ...)."""


def prepare_spec(spec: TaskSpec) -> TaskSpec:
    """Fill in what the task leaves to the tool: the built-in tokenizer for the simulator."""
    if spec.engine.simulated and not spec.model.tokenizer:
        from autotuner.sim.tokenizer import default_tokenizer_dir, ensure_tokenizer

        tok = ensure_tokenizer(default_tokenizer_dir())
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"tokenizer": str(tok)})})
    return spec


def campaign_id(spec: TaskSpec) -> str:
    """Name plus a short hash of the folder: two campaigns of one name never share Kubernetes labels."""
    digest = hashlib.sha1(str(spec.output_dir).encode()).hexdigest()[:6]
    return f"{spec.name[:33]}-{digest}"


def connect_ray(spec: TaskSpec) -> None:
    """Attach to the cluster in RAY_ADDRESS (or the job's cluster), else start a local one whose GPUs
    are the campaign's slots (logical GPUs when the engine is simulated or remote)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        return
    logical = spec.engine.simulated or spec.engine.backend == "ome"
    ray.init(address="local", num_cpus=max(2, os.cpu_count() or 2),
             num_gpus=spec.budget.gpus if logical else None,
             include_dashboard=False, log_to_driver=False, configure_logging=False)


class TrialResources:
    """Resources of one trial as a function of its config: tp*dp GPU slots (0 for configs that the
    pre-deployment checks reject, so they never wait for GPUs that do not exist)."""

    def __init__(self, gpus_per_node: int, slots: int):
        self.gpus_per_node = gpus_per_node
        self.slots = slots

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        from autotuner.feasibility import trial_gpus

        return {"CPU": 0.1, "GPU": trial_gpus(config, gpus_per_node=self.gpus_per_node, slots=self.slots)}


def _trainable(spec: TaskSpec, cid: str):
    from ray import tune

    from trainables.engine_trial import EngineTrial

    with_spec = tune.with_parameters(EngineTrial, spec_json=spec.model_dump_json(), campaign_id=cid)
    trainable = tune.with_resources(with_spec, TrialResources(spec.engine.gpus_per_node, spec.budget.gpus))
    trainable.__qualname__ = EngineTrial.__qualname__  # the dashboard's class name, not with_resources.<locals>...
    return trainable


def _searcher(spec: TaskSpec):
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from autotuner.space import SearchSpace

    sampler = (optuna.samplers.RandomSampler(seed=spec.seed) if spec.search.algorithm == "random"
               else optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=min(8, spec.budget.trials)))
    search = OptunaSearch(space=SearchSpace.from_spec(spec), metric="score", mode="max", sampler=sampler,
                          points_to_evaluate=[dict(c) for c in spec.search.initial_configs] or None)
    return ConcurrencyLimiter(search, max_concurrent=spec.budget.gpus)


def _scheduler(spec: TaskSpec):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.search.early_stopping == "none":
        return FIFOScheduler()
    # metric/mode come from TuneConfig (setting them twice raises).
    return ASHAScheduler(time_attr="training_iteration", max_t=len(spec.levels),
                         grace_period=min(spec.search.grace_levels, len(spec.levels)),
                         reduction_factor=spec.search.reduction_factor)


def _install_sigterm_handler() -> None:
    """`ray job stop` sends SIGTERM; Tune saves its state for a resume only on SIGINT/SIGUSR1.
    Installed after ray.init, which sets its own fatal SIGTERM handler."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGUSR1))


def ray_job_submission_id() -> str | None:
    """The submission id when this process is a Ray Job's entrypoint (``ray job submit``): Ray's
    job manager passes the job's metadata in this variable."""
    try:
        config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    except ValueError:
        return None
    return (config.get("metadata") or {}).get("job_submission_id")


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "campaign.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_meta(folder: Path, **fields: Any) -> dict[str, Any]:
    path = folder / "campaign.json"
    meta = _read_meta(folder)
    meta.update(fields)
    write_json(path, meta)
    return meta


def run_campaign(spec: TaskSpec, *, resume: bool = False, stream: TextIO | None = None,
                 callbacks: Sequence[Any] = ()) -> CampaignResult:
    """Run (or resume) a campaign to the end; returns its trials and the best config."""
    from ray import tune

    from autotuner.hub import HubFeed
    from autotuner.objective import objective_from_spec
    from autotuner.progress import ProgressPrinter
    from autotuner.recorder import ResultsRecorder

    spec = require_valid(spec)
    folder = spec.output_dir
    tune_path = folder / TUNE_DIR
    if resume:
        stored, problems = load_spec(folder / "spec.yaml")
        if stored is None or problems:
            raise CampaignError(f"nothing to resume in {folder}: no valid spec.yaml")
        if not tune.Tuner.can_restore(str(tune_path)):
            raise CampaignError(f"nothing to resume in {tune_path}: no Tune experiment state")
        spec = stored
    elif (folder / "campaign.json").exists():
        raise CampaignError(f"{folder} already holds a campaign: resume it with --resume, "
                            f"or set another output folder")
    folder.mkdir(parents=True, exist_ok=True)
    if not resume:
        (folder / "spec.yaml").write_text(spec.to_yaml())
    spec = prepare_spec(spec)
    cid = campaign_id(spec)
    _write_meta(folder, id=cid, name=spec.name, status="running", ended=None, pid=os.getpid(),
                ray_job_id=ray_job_submission_id(), budget_trials=spec.budget.trials,
                objective=spec.objective.kind,
                **run_fields(_read_meta(folder), ray_job_id=ray_job_submission_id(), resume=resume, now=time.time()))
    _collect_garbage(spec, cid)

    t0 = time.monotonic()
    connect_ray(spec)
    _install_sigterm_handler()
    objective = objective_from_spec(spec.objective)
    recorder = ResultsRecorder(str(folder), num_levels=len(spec.levels))
    printer = ProgressPrinter(len(spec.levels), spec.budget.trials, objective.unit, stream=stream)
    status = "finished"
    try:
        if resume:
            tuner = tune.Tuner.restore(str(tune_path), trainable=_trainable(spec, cid), resume_unfinished=True,
                                       resume_errored=False, restart_errored=False)
        else:
            tuner = tune.Tuner(
                _trainable(spec, cid),
                tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=_searcher(spec),
                                            scheduler=_scheduler(spec), num_samples=spec.budget.trials,
                                            time_budget_s=spec.budget.wall_time_s, reuse_actors=False),
                run_config=tune.RunConfig(name=TUNE_DIR, storage_path=str(folder), verbose=0,
                                          callbacks=[recorder, printer, HubFeed(recorder, cid), *callbacks],
                                          # A trial holds no state worth saving: a restarted one
                                          # deploys its engine and runs its sweep again.
                                          checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)),
            )
        tuner.fit()
    finally:
        _collect_garbage(spec, cid)
        meta, trials, levels = load_campaign(folder)
        unfinished = any(t.status == INTERRUPTED for t in trials)
        # Without a wall-time budget, Tune ends early only when it was stopped.
        short = len(trials) < spec.budget.trials and not spec.budget.wall_time_s
        if unfinished or short:
            status = "interrupted"
        best = pick_best(trials)
        best_data = None
        if best is not None:
            best_data = write_best(folder, best, levels, model_path=spec.model.path or spec.model.name,
                                   served_model_name=spec.model.served_model_name, objective_unit=objective.unit,
                                   extra=_best_extras(spec, best, folder, cid))
        _write_meta(folder, status=status, ended=time.time(),
                    best_trial=best.trial_id if best else None, best_score=best.score if best else None)
    return CampaignResult(folder, status, trials, best_data, time.monotonic() - t0)


def _best_extras(spec: TaskSpec, best: TrialRecord, folder: Path, cid: str) -> dict[str, Any]:
    """The OME InferenceService manifest of the best config."""
    from autotuner.k8s.best_manifest import write_best_manifest

    path = write_best_manifest(spec, best.config, folder, cid, best.trial_id)
    return {"inference_service_manifest": str(path)}


def _collect_garbage(spec: TaskSpec, cid: str) -> None:
    """Remove Kubernetes objects a crashed run of this campaign left behind (OME backend only)."""
    if spec.engine.backend != "ome":
        return
    from autotuner.engines.ome import gc_from_task_spec

    gc_from_task_spec(spec, cid)


def run_campaign_file(path: str | Path, *, resume: bool = False, output: str | None = None,
                      stream: TextIO | None = None) -> CampaignResult:
    """Load, check and run a task file (the entry point of ``autotuner run`` and Ray Jobs)."""
    spec, problems = load_spec(path)
    if spec is None or problems:
        raise SpecError(problems)
    if output:
        spec = spec.model_copy(update={"output": output})
    return run_campaign(spec, resume=resume, stream=stream)


__all__ = ["CampaignError", "CampaignResult", "campaign_id", "connect_ray",
           "prepare_spec", "run_campaign", "run_campaign_file"]
