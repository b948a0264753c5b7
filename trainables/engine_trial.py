"""The trial: deploy one engine config, run the load levels its plan asks for, report each, tear down.

A class trainable rather than a function: Tune calls :meth:`EngineTrial.cleanup` synchronously
when the trial ends for any reason (done, stopped early, failed, campaign interrupted) before the
actor exits, so the engine is always torn down. A function trainable's ``finally`` runs in a
daemon thread that the actor's exit may cut short. The campaign reuses actors (Tune's
``reuse_actors``): :meth:`EngineTrial.reset_config` tears the last trial's engine down and starts
the next trial in the same worker, which saves the worker's exit, scheduling and start (seconds).

Each :meth:`step` runs the next level of the trial's :class:`~autotuner.trial.sweep.TrialSweep` (the
load search towards the config's SLO boundary, or a re-measurement) and returns the level's
metrics with the score so far, its upper bound and its constraint violation, so the early-stopping
rule can stop a trial that cannot beat the best one. A level the host distorted runs again and, if
it stays distorted, ends the trial unscored (:mod:`autotuner.trial.host_distortion`). The report is a
:class:`~autotuner.trial.report.TrialReport`, handed to Tune as a dict in :meth:`step` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Any, Mapping

from ray import tune

from autotuner.bench.genai_bench import BenchmarkError
from autotuner.bench.runner import BenchmarkRunner
from autotuner.plugins import RUNNERS
from autotuner.engines.base import DeployRequest, EngineStartError, RunningEngine
from autotuner.engines.backends import make_backend
from autotuner.trial.feasibility import model_facts, reject_reason
from autotuner.trial.objective import objective_from_spec
from autotuner.task.space import describe_config
from autotuner.results.folder import CampaignFolder
from autotuner.results.records import TrialStatus
from autotuner.stopping import EarlyStopping
from autotuner.stopping.load_hint import load_hint
from autotuner.task.space import engine_args
from autotuner.task.spec import TaskSpec
from autotuner.trial.directive import TrialDirective
from autotuner.trial.host_distortion import distortion_note, measure, refusal_reason, refused, runs_for
from autotuner.trial.sweep import TrialSweep, final_report, plan_for_trial
from autotuner.trial.report import TrialReport
from trainables.phase_clock import PhaseClock


class EngineTrial(tune.Trainable):
    """One trial of a campaign. Config: engine parameters (plus a re-measurement's
    :class:`~autotuner.trial.directive.TrialDirective`); ``spec_json`` (the task), ``campaign_id``,
    ``api_key`` (the key the task's engine.api_key names, in memory only) and ``ended`` (the final
    reports of the trials that ended in the campaign's earlier runs) come through
    ``tune.with_parameters``."""

    def setup(self, config: dict[str, Any], spec_json: str, campaign_id: str, api_key: str | None = None,
              ended: Mapping[str, TrialReport] | None = None) -> None:
        self.campaign_id = campaign_id
        self.spec = TaskSpec.model_validate_json(spec_json)
        self._api_key = api_key
        self._ended_before = ended or {}
        self._begin(config)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """The next trial in this worker (Tune has set its trial id): the last one ends first."""
        self._end()
        self._begin(new_config)
        return True

    def _begin(self, config: dict[str, Any]) -> None:
        """Deploy this trial's engine (with genai-bench starting meanwhile), or note why it cannot run."""
        self.clock = PhaseClock()  # phase times for benchmarks/overhead.py, in timing.json
        self._ended = False
        print(f"trial {self.trial_id}: {describe_config(config)}", flush=True)  # the actor's log in the dashboard
        self.engine_args = engine_args(config)
        self.gpus = self.spec.engine.engine_flavor.gpus_needed(self.engine_args)
        note = "; ".join(self.spec.behaviour_notes(self.engine_args))
        if note:
            print(f"trial {self.trial_id}: engine note: {note}", flush=True)
        objective = objective_from_spec(self.spec.objective)
        directive = TrialDirective.of_config(config)
        hint = (load_hint(self.campaign_id) if EarlyStopping.from_spec(self.spec).uses_load_hint
                and not directive.remeasures else {})
        self.sweep = TrialSweep(plan_for_trial(self.spec, directive, self.gpus, objective.slo, hint), objective,
                                self.gpus)
        self.work_dir = CampaignFolder(self.spec.output_dir).trial_dir(self.trial_id)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._stack = contextlib.ExitStack()
        self._engine: RunningEngine | None = None
        self._runner: BenchmarkRunner | None = None
        self._ending: TrialReport | None = None  # the final report when the trial cannot go on
        self._deploy_s = 0.0

        recorded = self._ended_before.get(self.trial_id)
        if recorded is not None:  # Tune's saved state is older than the campaign's tables
            print(f"trial {self.trial_id}: ended in an earlier run ({recorded.status}): its record stands, "
                  "nothing is deployed", flush=True)
            self._ending, self._ended = recorded, True  # nothing to tear down; its timing.json stays
            return

        why = reject_reason(self.engine_args, gpus_per_node=self.spec.engine.gpus_per_node,
                            slots=self.spec.budget.gpus, **model_facts(self.spec))
        if why:
            self._ending = self._final(TrialStatus.REJECTED, why)
            return
        # Made before the engine deploys: genai-bench's imports overlap the engine's start-up.
        runner = RUNNERS.get(self.spec.workload.runner).prepare(self.spec, self.work_dir, self._api_key)
        self._stack.callback(runner.close)
        t0 = time.monotonic()
        self.clock.mark("deploy_started")
        try:
            self._engine = self._stack.enter_context(make_backend(self.spec, self._api_key).deploy(DeployRequest(
                campaign_id=self.campaign_id, trial_id=self.trial_id, engine_args=self.engine_args,
                served_model_name=self.spec.model.served_model_name, work_dir=self.work_dir,
                gpu_ids=[str(g) for g in _gpu_ids()])))
        except EngineStartError as err:
            self._stack.close()
            self._ending = self._final(TrialStatus.FAILED, f"start-up failed: {err.reason}", log_tail=err.log_tail)
            return
        self._deploy_s = time.monotonic() - t0
        self.clock.mark("engine_ready")
        runner.connect(self._engine, campaign_id=self.campaign_id, trial_id=self.trial_id, gpus=self.gpus)
        self._runner = runner

    def step(self) -> dict[str, Any]:
        report = self._step()
        if report.done:
            self._end()  # now, not when Tune reuses or stops this worker
        return report.to_tune()

    def _step(self) -> TrialReport:
        if self._ending is not None:
            return self._ending
        assert self._runner is not None and self._engine is not None
        request = self.sweep.next_level()
        assert request is not None  # a plan has at least one level, and the last report says done
        self.clock.mark("first_step", once=True)
        try:
            policy = self.spec.workload.host_distortion
            level = measure(self._runner.run_level, request, runs_for(policy))  # a distorted level may run again
        except BenchmarkError as err:
            crashed = self._engine.check_alive()
            k = len(self.sweep.levels) + 1
            reason = (f"engine crashed during level {k} ({request.scenario} c={request.concurrency}): {crashed}"
                      if crashed else f"level {k}: {err.reason}")
            return self._final(TrialStatus.FAILED, reason, log_tail=err.log_tail)
        note = "; ".join(filter(None, (request.note, level.ended_early, distortion_note(level, policy))))
        if refused(level, policy):  # reported with its distortion, never scored: the trial ends at it
            k = len(self.sweep.levels) + 1
            return dataclasses.replace(self._final(TrialStatus.FAILED, refusal_reason(level, k)), level=k,
                                       measured=level, load_note=note)
        self.sweep.add(level)
        self.clock.append("level_reported")
        return dataclasses.replace(self.sweep.report(), load_note=note, engine_startup_s=self._deploy_s)

    def _final(self, status: str, reason: str, *, log_tail: str = "") -> TrialReport:
        """The last report of a trial that cannot go on (rejected, start-up failure, crash)."""
        tail = "\n".join(log_tail.splitlines()[-5:])
        reason_file = self.work_dir / CampaignFolder.TRIAL_REASON
        reason_file.write_text(reason + ("\n\n" + log_tail if log_tail else "") + "\n")
        return dataclasses.replace(final_report(self.sweep, status, reason), log_tail=tail,
                                   engine_startup_s=self._deploy_s)

    def __repr__(self) -> str:
        # Ray shows it as the actor's "Repr" in the dashboard and in its log prefixes. Ray reads it
        # once, after setup: a worker that goes on to other trials (reuse_actors) keeps its first
        # trial's name, and says each next trial in its log (_begin).
        return f"EngineTrial(first trial {self.trial_id}: {describe_config(self.config)})"

    def cleanup(self) -> None:
        self._end()

    def _end(self) -> None:
        """Tear this trial's engine and genai-bench down and write its phase times (once)."""
        if self._ended:
            return
        self._ended = True
        self.clock.mark("cleanup_started")
        self._stack.close()
        self.clock.mark("cleanup_ended")
        # work_dir, not trial_id: when Tune reuses this worker, it has set the next trial's id by now
        self.clock.write(self.work_dir / CampaignFolder.TRIAL_TIMING, gpu_ids=[str(g) for g in _gpu_ids()],
                         pid=os.getpid())


def _gpu_ids() -> list[Any]:
    import ray

    return ray.get_gpu_ids() if ray.is_initialized() else []
