"""The campaign's two Ray Tune experiments over one trainable: the search (Optuna proposes, the
bound rule stops trials that cannot win) and the re-measurement of the best configs at their
boundary load; both new or restored from the folder's Tune state::

    trainable = campaign_trainable(spec, cid, api_key, folder)
    run_search(spec, trainable, folder, restore, callbacks)
    run_remeasurement(spec, trainable, folder, callbacks)
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from autotuner.campaign.placement import trial_slots
from autotuner.results.folder import CampaignFolder
from autotuner.task.spec import TaskSpec


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
        from autotuner.flavors import FLAVORS
        from autotuner.trial.feasibility import trial_gpus

        gpus = trial_gpus(config, flavor=FLAVORS.get(self.flavor), gpus_per_node=self.gpus_per_node, slots=self.slots)
        return {"CPU": 0.1, **({self.resource: gpus} if gpus else {})}


def campaign_trainable(spec: TaskSpec, cid: str, api_key: str | None, folder: CampaignFolder) -> Any:
    """The trainable of both phases: :class:`trainables.engine_trial.EngineTrial` with the task,
    the campaign id, the engine's API key and the final reports of the trials that ended in earlier
    runs (which a restored Tune state may start again), claiming :class:`TrialResources`."""
    from ray import tune

    from autotuner.results.records import final_reports
    from trainables.engine_trial import EngineTrial

    # The key goes to the trials through Ray's object store, never into a file.
    with_spec = tune.with_parameters(EngineTrial, spec_json=spec.model_dump_json(), campaign_id=cid, api_key=api_key,
                                     ended=final_reports(folder.read_trials()))
    trainable = tune.with_resources(with_spec, TrialResources(spec.engine.gpus_per_node, spec.budget.gpus,
                                                              trial_slots(spec).resource, spec.engine.flavor))
    trainable.__qualname__ = EngineTrial.__qualname__  # the dashboard's class name, not with_resources.<locals>...
    return trainable


def campaign_callbacks(spec: TaskSpec, folder: CampaignFolder, cid: str, unit: str, stream: TextIO | None,
                       extra: Sequence[Any]) -> list[Any]:
    """The Tune callbacks of a campaign: the recorder (the folder's tables) first, then those that
    read its records (the hub, the load hint), the CLI's progress lines and ``extra``."""
    from autotuner.results.hub import HubFeed
    from autotuner.results.progress import ProgressPrinter
    from autotuner.results.recorder import ResultsRecorder
    from autotuner.stopping import EarlyStopping
    from autotuner.stopping.load_hint import IncumbentFeed

    recorder = ResultsRecorder(str(folder.path), unit)
    hint_feed = [IncumbentFeed(recorder, cid)] if EarlyStopping.from_spec(spec).uses_load_hint else []
    printer = ProgressPrinter(spec.budget.trials, unit, stream=stream, folder=str(folder.path))  # counts on when resumed
    return [recorder, printer, HubFeed(recorder, cid), *hint_feed, *extra]


def run_search(spec: TaskSpec, trainable: Any, folder: CampaignFolder, restore: bool,
               callbacks: Sequence[Any]) -> None:
    """The search, new or restored from the folder's Tune state."""
    _experiment(spec, trainable, folder.tune_dir, restore, callbacks, search=True).fit()


def run_remeasurement(spec: TaskSpec, trainable: Any, folder: CampaignFolder, callbacks: Sequence[Any]) -> None:
    """Run the best configs again at their boundary load (resuming an interrupted re-measurement)."""
    from ray import tune

    from autotuner.results.answer import remeasure_configs
    from autotuner.twin.alike import predicted_behaviour

    path = folder.remeasure_tune_dir
    if tune.Tuner.can_restore(str(path)):
        _experiment(spec, trainable, path, True, callbacks, search=False).fit()
        return
    trials = folder.read_trials()
    alike = predicted_behaviour(spec)
    configs = remeasure_configs(trials, spec.remeasure, alike)
    if alike is not None and configs != remeasure_configs(trials, spec.remeasure):
        _say("twin: of the search's best configs, those it predicts to behave alike (their other knobs do not bind) "
             "are re-measured once: the next best distinct ones take their place")
    if configs:
        _experiment(spec, trainable, path, False, callbacks, search=False, configs=configs).fit()


def _say(text: str) -> None:
    """A progress line of the driver itself (the searcher's word on the twin), timed like the trials' lines."""
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def _experiment(spec: TaskSpec, trainable: Any, path: Path, resume: bool, callbacks: Sequence[Any], *,
                search: bool, configs: Sequence[dict[str, Any]] = ()) -> Any:
    """The Tune experiment of one phase, new or restored: the search (Optuna proposes, the bound
    rule stops) or the re-measurement of ``configs`` (each run as given, none stopped)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from autotuner.campaign.moved_modules import alias_moved_modules
    from autotuner.results.standing import assured_best_in
    from autotuner.search import make_searcher
    from autotuner.search.fixed import FixedConfigs
    from autotuner.stopping import EarlyStopping

    # The campaign keeps its own tables; of Tune's per-trial files only result.json is read (by
    # Tune's result grid at the end): no CSV or TensorBoard logging.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    callbacks = [*callbacks, JsonLoggerCallback()]

    if resume:
        alias_moved_modules()  # a folder of an older version names the old modules
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
        # Tune restores the callbacks it saved, which name the folder where the campaign ran then
        # (a folder may have moved since) and miss this run's: hand it this run's (no public API).
        tuner._local_tuner.get_run_config().callbacks = list(callbacks)
        return tuner
    if search:
        # on a resume, the bound rule starts from the trials that ended before
        scheduler = EarlyStopping.from_spec(spec).scheduler(seed=functools.partial(assured_best_in, str(path.parent)))
        tune_config = tune.TuneConfig(metric="score", mode="max", search_alg=make_searcher(spec, announce=_say), scheduler=scheduler,
                                      num_samples=spec.budget.trials, time_budget_s=spec.budget.wall_time_s,
                                      reuse_actors=True)
    else:
        tune_config = tune.TuneConfig(metric="score", mode="max", num_samples=len(configs), reuse_actors=True,
                                      search_alg=FixedConfigs(configs))
    return tune.Tuner(
        trainable, tune_config=tune_config,
        run_config=tune.RunConfig(name=path.name, storage_path=str(path.parent), verbose=0, callbacks=list(callbacks),
                                  # A trial holds no state worth saving: a restarted one deploys
                                  # its engine and runs its levels again.
                                  checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False)))


__all__ = ["TrialResources", "campaign_callbacks", "campaign_trainable", "run_remeasurement", "run_search"]
