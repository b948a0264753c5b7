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

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from autotuner.engines.api_key import ApiKeyError, api_key_for
from autotuner.campaign.runs import run_fields
from autotuner.campaign.lock import CampaignLock, FolderInUse
from autotuner.campaign.placement import check_cluster, trial_slots
from autotuner.task.ray_job import current_ray_job
from autotuner.results.folder import (CAMPAIGN_FAILED, CAMPAIGN_FINISHED, CAMPAIGN_INTERRUPTED, CAMPAIGN_RUNNING,
                               CAMPAIGN_STARTING, CAMPAIGN_STOPPED, INTERRUPTED, META_FILE, SEARCH, TrialRecord,
                               load_campaign, read_meta, read_rows, update_meta, write_best, write_json, write_text)
from autotuner.task.spec import SpecError, TaskSpec, load_spec, require_valid
from autotuner.campaign.stop_signals import CampaignStopped, StopSignals
from autotuner.task.paths import resolve_here

TUNE_DIR = "tune"
REMEASURE_TUNE_DIR = "tune-remeasure"


@dataclass
class CampaignResult:
    folder: Path
    status: str  # finished | stopped | interrupted
    trials: list[TrialRecord]
    best: dict[str, Any] | None
    wall_s: float
    already_finished: bool = False  # the folder held this campaign, finished: nothing was run


class CampaignError(RuntimeError):
    """The campaign cannot start (folder in use, nothing to resume, Ray unreachable, trials that
    no node can place ...)."""


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
    """Attach to the cluster in RAY_ADDRESS (or the job's cluster), else start a local Ray whose
    slots are the campaign's, as its backend declares them (:func:`~autotuner.campaign.placement.trial_slots`)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    try:
        if address:
            _require_reachable(address)
            ray.init(address=address, log_to_driver=False)
            return
        ray.init(address="local", num_cpus=max(2, os.cpu_count() or 2), **trial_slots(spec).local_ray,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    except SystemExit as exit_:  # ray.init turns SIGTERM into sys.exit(SIGTERM) while it connects
        if exit_.code == signal.SIGTERM:
            raise CampaignStopped("SIGTERM") from None
        raise


def _require_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when a ``host:port`` address does not answer: ray.init would retry it for
    about 13 minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise CampaignError(f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({err.strerror or err}): "
                            "start it (`ray start --head`), correct RAY_ADDRESS, or unset it to run on a local "
                            "Ray of this process") from None


class TrialResources:
    """Resources of one trial as a function of its config: tp*dp GPU slots of ``resource`` (none
    for configs that the pre-deployment checks reject, so they never wait for slots that do not
    exist)."""

    def __init__(self, gpus_per_node: int, slots: int, resource: str, flavor: str):
        self.gpus_per_node = gpus_per_node
        self.slots = slots
        self.resource = resource
        self.flavor = flavor

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        from autotuner.flavors import get_flavor
        from autotuner.trial.feasibility import trial_gpus

        gpus = trial_gpus(config, flavor=get_flavor(self.flavor), gpus_per_node=self.gpus_per_node, slots=self.slots)
        return {"CPU": 0.1, **({self.resource: gpus} if gpus else {})}


def _trainable(spec: TaskSpec, cid: str, api_key: str | None):
    from ray import tune

    from trainables.engine_trial import EngineTrial

    # The key goes to the trials through Ray's object store, never into a file.
    with_spec = tune.with_parameters(EngineTrial, spec_json=spec.model_dump_json(), campaign_id=cid, api_key=api_key)
    trainable = tune.with_resources(with_spec, TrialResources(spec.engine.gpus_per_node, spec.budget.gpus,
                                                              trial_slots(spec).resource, spec.engine.flavor))
    trainable.__qualname__ = EngineTrial.__qualname__  # the dashboard's class name, not with_resources.<locals>...
    return trainable


FRESH, RESTORE, ALREADY_FINISHED = "fresh", "restore", "already finished"


def start_mode(folder: Path, meta: dict[str, Any], *, trials_started: bool, can_restore: bool, resume: bool,
               same_task: bool) -> str:
    """How to run a campaign in ``folder``: FRESH, RESTORE (Tune's state) or ALREADY_FINISHED;
    :class:`CampaignError` when the folder holds something that this run must not overwrite.

    A campaign that started no trial (Ray unreachable, stopped or failed while starting) has
    nothing to lose or repeat: it is run again from the start, also with ``--resume``.
    """
    if not meta:
        if resume:
            raise CampaignError(f"nothing to resume in {folder}: no campaign there")
        return FRESH
    if not trials_started:
        return FRESH
    status = meta.get("status")
    if status == CAMPAIGN_FINISHED:
        if resume or same_task:
            return ALREADY_FINISHED
        raise CampaignError(f"{folder} holds a finished campaign of another task: set another output folder")
    if not resume:
        raise CampaignError(f"{folder} holds an unfinished campaign ({status}): resume it with --resume, "
                            f"or set another output folder")
    if not can_restore:
        raise CampaignError(f"nothing to resume in {folder / TUNE_DIR}: no Tune experiment state")
    return RESTORE


def settled_status(trials: Sequence[TrialRecord], spec: TaskSpec, stop_signal: str | None) -> str:
    """The campaign's status once Tune returned."""
    unfinished = any(t.status == INTERRUPTED for t in trials)
    # Without a wall-time budget, the search ends early only when it was stopped.
    searched = sum(t.phase == SEARCH for t in trials)
    short = searched < spec.budget.trials and (stop_signal is not None or not spec.budget.wall_time_s)
    if unfinished or short:
        return CAMPAIGN_STOPPED if stop_signal else CAMPAIGN_INTERRUPTED
    return CAMPAIGN_FINISHED


def _stored_spec(folder: Path) -> TaskSpec | None:
    """The task a campaign folder was run with (its paths resolved, its output the folder)."""
    stored, problems = load_spec(folder / "spec.yaml")
    if stored is None or problems:
        return None
    return resolve_here(stored).model_copy(update={"output": str(folder)})


def run_campaign(spec: TaskSpec, *, resume: bool = False, stream: TextIO | None = None,
                 callbacks: Sequence[Any] = ()) -> CampaignResult:
    """Run (or resume) a campaign to the end; returns its trials and the best config.

    Relative paths in ``spec`` resolve against the current directory (autotuner/task/paths.py).
    One driver at a time holds the campaign folder (autotuner/campaign/lock.py); SIGTERM and SIGINT
    stop it so that ``resume=True`` goes on without repeating finished trials
    (autotuner/campaign/stop_signals.py).
    """
    from ray import tune

    spec = resolve_here(require_valid(spec))
    folder = spec.output_dir
    job = current_ray_job()
    job_id = job.submission_id if job else None
    owned = False  # once campaign.json is this run's, a stop signal is recorded in it at once
    _api_key(spec)  # before anything is created: a missing key is the user's to fix

    def record_stop(signal_name: str) -> None:
        if owned:
            update_meta(folder, status=CAMPAIGN_STOPPED, stop_signal=signal_name)

    def lost_lock() -> None:
        print(f"error: another run took over {folder}: stopping this one", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    with StopSignals(on_stop=record_stop) as stop, _folder_lock(folder, job_id, on_lost=lost_lock):
        try:
            stored = _stored_spec(folder)
            mode = start_mode(folder, read_meta(folder), trials_started=bool(read_rows(folder / "trials.parquet")),
                              can_restore=tune.Tuner.can_restore(str(folder / TUNE_DIR)), resume=resume,
                              same_task=stored is not None and stored == spec)
            if resume or mode == ALREADY_FINISHED:
                if stored is None and mode != FRESH:
                    raise CampaignError(f"nothing to resume in {folder}: no valid spec.yaml")
                spec = stored or spec
            if mode == ALREADY_FINISHED:
                return _result(folder, 0.0, already_finished=True)
            api_key = _api_key(spec)  # the stored task's, on a resume
            if mode == FRESH:
                for stale in (TUNE_DIR, REMEASURE_TUNE_DIR):  # of a start that ran no trial
                    shutil.rmtree(folder / stale, ignore_errors=True)
                write_text(folder / "spec.yaml", spec.to_yaml())
            spec = prepare_spec(spec)
            cid = campaign_id(spec)
            fields = dict(id=cid, name=spec.name, status=CAMPAIGN_STARTING, ended=None,
                          host=socket.gethostname(), ray_job_id=job_id, budget_trials=spec.budget.trials,
                          objective=spec.objective.kind, error=None, cleanup_error=None, stop_signal=None,
                          **run_fields(read_meta(folder), ray_job_id=job_id, resume=mode == RESTORE, now=time.time()))
            if mode == FRESH:
                write_json(folder / META_FILE, fields)
            else:
                update_meta(folder, **fields)
            owned = True
            return _run(spec, cid, api_key, mode == RESTORE, stop, stream, callbacks)
        except CampaignStopped as stopped:  # before _run took over: nothing ran
            if owned:
                update_meta(folder, status=CAMPAIGN_STOPPED, ended=time.time(), stop_signal=stopped.signal_name)
            return CampaignResult(folder, CAMPAIGN_STOPPED, [], None, 0.0)


def _api_key(spec: TaskSpec) -> str | None:
    """The engine's API key the task names, or :class:`CampaignError` saying what is missing."""
    try:
        return api_key_for(spec)
    except ApiKeyError as err:
        raise CampaignError(str(err)) from None


@contextlib.contextmanager
def _folder_lock(folder: Path, job_id: str | None, on_lost: Callable[[], None]) -> Iterator[CampaignLock]:
    """Hold the campaign folder's lock; :class:`CampaignError` when another driver holds it."""
    lock = CampaignLock(folder, ray_job_id=job_id, on_lost=on_lost)
    try:
        lock.acquire()
    except FolderInUse as err:
        raise CampaignError(str(err)) from None
    try:
        yield lock
    finally:
        lock.release()


def _result(folder: Path, wall_s: float, already_finished: bool = False) -> CampaignResult:
    meta, trials, _ = load_campaign(folder)
    best = json.loads((folder / "best_config.json").read_text()) if meta.get("best_trial") else None
    return CampaignResult(folder, meta["status"], trials, best, wall_s, already_finished)


def _run(spec: TaskSpec, cid: str, api_key: str | None, restore: bool, stop: StopSignals, stream: TextIO | None,
         callbacks: Sequence[Any]) -> CampaignResult:
    """Start Ray, run Tune, and always leave campaign.json saying how it ended."""
    from ray import tune

    from autotuner.results.hub import HubFeed
    from autotuner.trial.objective import objective_from_spec
    from autotuner.results.progress import ProgressPrinter
    from autotuner.results.recorder import ResultsRecorder
    from autotuner.stopping import EarlyStopping
    from autotuner.stopping.load_hint import IncumbentFeed

    folder = spec.output_dir
    tune_path = folder / TUNE_DIR
    objective = objective_from_spec(spec.objective)
    t0 = time.monotonic()
    status, error, tuned = CAMPAIGN_FAILED, None, False
    try:
        connect_ray(spec)
        stop.reinstall()  # ray.init installed its own SIGTERM handler
        problem = check_cluster(spec)
        if problem:
            raise CampaignError(problem)
        _collect_garbage(spec, cid)
        recorder = ResultsRecorder(str(folder), objective.unit)
        hint_feed = [IncumbentFeed(recorder, cid)] if EarlyStopping.from_spec(spec).uses_load_hint else []
        callbacks = [recorder, ProgressPrinter(spec.budget.trials, objective.unit, stream=stream),
                     HubFeed(recorder, cid), *hint_feed, *callbacks]
        trainable = _trainable(spec, cid, api_key)
        update_meta(folder, status=CAMPAIGN_RUNNING)
        with stop.tuning():
            _experiment(spec, trainable, tune_path, restore, callbacks, search=True).fit()
            if settled_status(load_campaign(folder)[1], spec, stop.received) == CAMPAIGN_FINISHED:
                _remeasure(spec, trainable, folder, callbacks)
        tuned = True
    except CampaignStopped:
        status = CAMPAIGN_STOPPED
    except BaseException as err:
        error = str(err) if isinstance(err, CampaignError) else f"{type(err).__name__}: {err}"
        raise
    finally:
        # Never raises: a failure here must not hide the error that brought us here.
        late = _wrap_up(spec, cid, objective.unit, folder, status, error, tuned, stop.received)
    if late is not None:
        raise late
    return _result(folder, time.monotonic() - t0)


def _wrap_up(spec: TaskSpec, cid: str, objective_unit: str, folder: Path, status: str, error: str | None,
             tuned: bool, stop_signal: str | None) -> Exception | None:
    """Sweep leftovers, write the best config and the final campaign.json. Returns (instead of
    raising) the first failure, which the caller raises only when nothing else went wrong."""
    failures: list[Exception] = []
    cleanup_error = None
    try:
        _collect_garbage(spec, cid)
    except Exception as err:
        failures.append(err)
        cleanup_error = f"{type(err).__name__}: {err}"
    best = None
    try:
        _, trials, levels = load_campaign(folder)
        if tuned:
            status = settled_status(trials, spec, stop_signal)
        best = _write_answer(spec, cid, folder, trials, levels, objective_unit)
    except Exception as err:
        failures.append(err)
        error = error or f"writing the results failed: {type(err).__name__}: {err}"
    try:
        update_meta(folder, status=status, ended=time.time(), error=error, cleanup_error=cleanup_error,
                    best_trial=best["trial_id"] if best else None, best_score=best["score"] if best else None)
    except Exception as err:
        failures.append(err)
    return failures[0] if failures else None


def _say(text: str) -> None:
    """A progress line of the driver itself, timed like the trials' lines."""
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def _experiment(spec: TaskSpec, trainable: Any, path: Path, resume: bool, callbacks: Sequence[Any], *,
                search: bool, configs: Sequence[dict[str, Any]] = ()) -> Any:
    """The Tune experiment of one phase, new or restored: the search (Optuna proposes, the bound
    rule stops) or the re-measurement of ``configs`` (each run as given, none stopped)."""
    from ray import tune

    from autotuner.search import make_searcher
    from autotuner.stopping import EarlyStopping
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
        tune_config = tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec, announce=_say),
                                      scheduler=EarlyStopping.from_spec(spec).scheduler(), num_samples=spec.budget.trials,
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

    from autotuner.results.answer import remeasure_configs

    path = folder / REMEASURE_TUNE_DIR
    if tune.Tuner.can_restore(str(path)):
        _experiment(spec, trainable, path, True, callbacks, search=False).fit()
        return
    configs = remeasure_configs(load_campaign(folder)[1], spec.remeasure)
    if configs:
        _experiment(spec, trainable, path, False, callbacks, search=False, configs=configs).fit()


def _write_answer(spec: TaskSpec, cid: str, folder: Path, trials: list[TrialRecord], levels: list[dict[str, Any]],
                  unit: str) -> dict[str, Any] | None:
    """best_config.json (the re-measured answer, its spread and provenance), the launch command
    and the OME manifest; None when no trial met the SLOs."""
    from autotuner.results.answer import choose, provenance, spread_block
    from autotuner.results.best_manifest import write_best_manifest
    from autotuner.results.folder import REMEASURE

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
    extra["engine_notes"] = spec.behaviour_notes(answer.search.config)
    return write_best(folder, answer.search, levels, launch_command=spec.launch_command(answer.search.config),
                      objective_unit=unit,
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
    """Remove what a crashed run of this campaign left behind (Kubernetes objects of the ome backend)."""
    from autotuner.engines.backends import backend_class

    backend_class(spec.engine.backend).collect_garbage(spec, cid)


def run_campaign_file(path: str | Path, *, resume: bool = False, output: str | None = None,
                      stream: TextIO | None = None) -> CampaignResult:
    """Load, check and run a task file (the entry point of ``autotuner run`` and Ray Jobs)."""
    spec, problems = load_spec(path)
    if spec is None or problems:
        raise SpecError(problems)
    if output:
        spec = spec.model_copy(update={"output": output})
    return run_campaign(spec, resume=resume, stream=stream)


__all__ = ["CampaignError", "CampaignResult", "TrialResources", "campaign_id", "connect_ray", "prepare_spec",
           "run_campaign", "run_campaign_file", "settled_status", "start_mode"]
