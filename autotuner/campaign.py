"""The campaign API: run a validated task with Ray Tune; resume one; read it back.

A campaign has two phases, each a Ray Tune experiment over the same trainable: the search (Optuna
proposes configs, each trial finds its SLO boundary, the bound rule stops trials that cannot win)
and the re-measurement of the best configs at their boundary load, which picks the answer. The
CLI, ``ray job submit`` and the web app all go through :func:`run_campaign`::

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

from autotuner.api_key import ApiKeyError, api_key_for
from autotuner.campaign_runs import run_fields
from autotuner.results import INTERRUPTED, SEARCH, TrialRecord, load_campaign, write_best, write_json, write_text
from autotuner.spec import SpecError, TaskSpec, load_spec, require_valid

TUNE_DIR = "tune"
REMEASURE_TUNE_DIR = "tune-remeasure"


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


def _trainable(spec: TaskSpec, cid: str, api_key: str | None):
    from ray import tune

    from trainables.engine_trial import EngineTrial

    # The key goes to the trials through Ray's object store, never into a file.
    with_spec = tune.with_parameters(EngineTrial, spec_json=spec.model_dump_json(), campaign_id=cid, api_key=api_key)
    trainable = tune.with_resources(with_spec, TrialResources(spec.engine.gpus_per_node, spec.budget.gpus))
    trainable.__qualname__ = EngineTrial.__qualname__  # the dashboard's class name, not with_resources.<locals>...
    return trainable


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
    try:
        api_key = api_key_for(spec)  # before anything starts: a missing key is the user's to fix
    except ApiKeyError as err:
        raise CampaignError(str(err)) from None
    folder.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_text(folder / "spec.yaml", spec.to_yaml())
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
    recorder = ResultsRecorder(str(folder), objective.unit)
    callbacks = [recorder, ProgressPrinter(spec.budget.trials, objective.unit, stream=stream),
                 HubFeed(recorder, cid), *callbacks]
    trainable = _trainable(spec, cid, api_key)
    status = "finished"
    try:
        _experiment(spec, trainable, tune_path, resume, callbacks, search=True).fit()
        if not _interrupted(spec, load_campaign(folder)[1]):
            _remeasure(spec, trainable, folder, callbacks)
    finally:
        _collect_garbage(spec, cid)
        meta, trials, levels = load_campaign(folder)
        if _interrupted(spec, trials):
            status = "interrupted"
        best_data = _write_answer(spec, cid, folder, trials, levels, objective.unit)
        _write_meta(folder, status=status, ended=time.time(), best_trial=best_data["trial_id"] if best_data else None,
                    best_score=best_data["score"] if best_data else None)
    return CampaignResult(folder, status, trials, best_data, time.monotonic() - t0)


def _experiment(spec: TaskSpec, trainable: Any, path: Path, resume: bool, callbacks: Sequence[Any], *,
                search: bool, configs: Sequence[dict[str, Any]] = ()) -> Any:
    """The Tune experiment of one phase, new or restored: the search (Optuna proposes, the bound
    rule stops) or the re-measurement of ``configs`` (each run as given, none stopped)."""
    from ray import tune

    from autotuner.search import make_scheduler, make_searcher
    from autotuner.search.fixed import FixedConfigs

    from ray.tune.logger import JsonLoggerCallback

    # The campaign keeps its own tables; of Tune's per-trial files only result.json is read (by
    # Tune's result grid at the end): no CSV or TensorBoard logging.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    callbacks = [*callbacks, JsonLoggerCallback()]

    if resume:
        return tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                  resume_errored=False, restart_errored=False)
    if search:
        tune_config = tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec),
                                      scheduler=make_scheduler(spec), num_samples=spec.budget.trials,
                                      time_budget_s=spec.budget.wall_time_s, reuse_actors=True)
    else:
        tune_config = tune.TuneConfig(metric="score", mode="max", num_samples=len(configs), reuse_actors=True,
                                      search_alg=FixedConfigs(configs))
    return tune.Tuner(
        trainable, tune_config=tune_config,
        run_config=tune.RunConfig(name=path.name, storage_path=str(path.parent), verbose=0, callbacks=list(callbacks),
                                  # A trial holds no state worth saving: a restarted one deploys
                                  # its engine and runs its levels again.
                                  checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))


def _remeasure(spec: TaskSpec, trainable: Any, folder: Path, callbacks: Sequence[Any]) -> None:
    """Run the best configs again at their boundary load (resuming an interrupted re-measurement)."""
    from ray import tune

    from autotuner.answer import remeasure_configs

    path = folder / REMEASURE_TUNE_DIR
    if tune.Tuner.can_restore(str(path)):
        _experiment(spec, trainable, path, True, callbacks, search=False).fit()
        return
    configs = remeasure_configs(load_campaign(folder)[1], spec.remeasure)
    if configs:
        _experiment(spec, trainable, path, False, callbacks, search=False, configs=configs).fit()


def _interrupted(spec: TaskSpec, trials: list[TrialRecord]) -> bool:
    """A trial left unfinished, or fewer search trials than the budget without a wall-time budget
    (Tune ends early only when it was stopped then)."""
    unfinished = any(t.status == INTERRUPTED for t in trials)
    searched = sum(t.phase == SEARCH for t in trials)
    return unfinished or (searched < spec.budget.trials and not spec.budget.wall_time_s)


def _write_answer(spec: TaskSpec, cid: str, folder: Path, trials: list[TrialRecord], levels: list[dict[str, Any]],
                  unit: str) -> dict[str, Any] | None:
    """best_config.json (the re-measured answer, its spread and provenance), the launch command
    and the OME manifest; None when no trial met the SLOs."""
    from autotuner.answer import choose, provenance, spread_block
    from autotuner.k8s.best_manifest import write_best_manifest
    from autotuner.results import REMEASURE

    answer = choose(trials)
    if answer is None:
        return None
    manifest = write_best_manifest(spec, answer.search.config, folder, cid, answer.search.trial_id)
    remeasured = [t for t in trials if t.phase == REMEASURE]
    extra = {
        "score": answer.value, "search_score": answer.search.score,
        "remeasured": spread_block(answer.record) if answer.remeasured else None,
        "candidates": [spread_block(t) for t in remeasured],
        "answer_note": _answer_note(answer.remeasured, bool(remeasured), spec.remeasure),
        "boundary": answer.search.boundary, "provenance": provenance(spec),
        "inference_service_manifest": str(manifest),
    }
    return write_best(folder, answer.search, levels, model_path=spec.model.path or spec.model.name,
                      served_model_name=spec.model.served_model_name, objective_unit=unit,
                      api_key_env=spec.engine.api_key.env if spec.engine.api_key else None, extra=extra)


def _answer_note(remeasured: bool, remeasure_ran: bool, settings: Any) -> str:
    if remeasured:
        return (f"the best mean of the {settings.configs} best configs, each run {settings.repeats} times "
                "at its SLO boundary load")
    if remeasure_ran:
        return "no re-measured config met the SLOs in most repeats: the search's best, measured once"
    if settings.configs:
        return "not re-measured (the campaign ended before): the search's best, measured once"
    return "the search's best, measured once (re-measurement switched off)"


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
