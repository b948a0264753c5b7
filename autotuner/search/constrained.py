"""Ray's ``OptunaSearch`` that tells Optuna what a trial proved, with infeasibility as a constraint.

What the sampler learns from an ended trial (:func:`learned_value`):

* it met the SLOs somewhere: its score (goodput per GPU at its SLO boundary), constraint 0;
* it was stopped early by the bound rule: its true score lies between what its passing levels made
  (0 when none passed yet) and its bound, so the midpoint of the two, constraint 0 (the config may
  well meet the SLOs at a lower load). On the benchmark surfaces the midpoint reached the optimum in
  fewer GPU-hours than telling the bound or the score so far (BENCHMARKS.md);
* it met the SLOs nowhere, failed at start-up or was rejected: value 0 and a positive constraint
  (how far from the SLOs, ``Trial.set_constraint``), so samplers that support constraints (TPE,
  GP) rank it below every feasible trial instead of mixing a negative number into the throughput
  scale;
* it ended at a level the host distorted in every run before any level met the SLOs
  (:mod:`autotuner.trial.host_distortion`): nothing, as the machine decided it and not the config:
  Optuna records a failed trial, which its samplers leave out.

With ``search.prior: twin`` (:class:`autotuner.twin.guide.TwinGuide`, calibrated on every level
reported so far) the twin may propose the next config, its best not tried yet, enqueued before
Optuna is asked; and a config the twin predicts far below the best trial is not deployed either:
Optuna is told the twin's prediction. Each config carries the twin's predicted boundary load
(:class:`~autotuner.trial.directive.TrialDirective`): where its load search starts while no trial
met the SLOs yet.

Without ``initial_configs`` (the user's own run first, alongside the twin's), the twin's best
config runs alone while its first level, at its predicted boundary load, meets the SLOs: where
the twin is right, that trial's score is the bar the next trials are measured against from their
first level (the load hint and the bound rule), instead of a first wave that fills every slot
with nothing to stop it early. Where the first level fails, the twin is off there; calibrated on
that trial's levels it may still rank the trial first among the start configs waiting (an engine
uniformly slower than the twin thinks keeps its ranking), and the trial stays alone while it
does. Once the calibrated twin ranks another start config higher, the other slots fill for good.

A config the campaign has already measured is not deployed again: when the sampler proposes one,
Optuna is told the value that config got and asked again, so the trial budget goes to new configs.
TPE proposes an already-measured config in about one trial in six on the benchmark surfaces. In a
space small enough to list (:data:`MAX_LISTED` configs), after :data:`REDRAWS` such proposals in a
row a config not tried yet is drawn from the list instead, and once every config was tried the
proposal runs again; otherwise Optuna is asked up to :data:`MAX_REUSED` times. (Asking Optuna
again and again in a small, nearly exhausted space grew its study by thousands of told trials,
each making the next proposal slower.)
"""

from __future__ import annotations

import json
import random
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from autotuner.results.records import TrialStatus
from autotuner.trial.directive import TrialDirective
from autotuner.trial.report import TrialReport
from autotuner.task.space import SearchSpace
from autotuner.twin.grid import config_key, grid_configs, space_size
from autotuner.twin.guide import TwinGuide, best_assured

CONSTRAINT = "slo"  # the constraint's name in Optuna: > 0 when the trial met the SLOs nowhere
MAX_REUSED = 20  # proposals of measured configs answered per suggestion (a small space runs out of new ones)
REDRAWS = 3  # in a listed space, proposals of tried configs in a row before one not tried yet is drawn
MAX_LISTED = 20_000  # spaces with at most this many configs are listed


def learned_value(result: dict[str, Any]) -> tuple[float, float]:
    """(value, constraint) the sampler gets for a trial's last report."""
    if result.get("feasible"):
        return float(result["score"]), 0.0
    bound = result.get("score_bound")
    violation = float(result.get("violation") or 0.0)
    ended = (TrialStatus.DONE, TrialStatus.FAILED, TrialStatus.REJECTED)
    # stopped by the rule: its last report still ran; or that report replayed by a resumed run
    stopped_early = (result.get("status") not in ended and not result.get("done")
                     or result.get("status") == TrialStatus.STOPPED_EARLY)
    if stopped_early and bound is not None:
        return 0.5 * (float(bound) + float(result.get("score") or 0.0)), 0.0
    return 0.0, max(violation, 1e-6)


def refused_by_host(result: dict[str, Any]) -> bool:
    """Whether a trial's last report ends it at a level the host distorted in every run, with no
    level that met the SLOs before (its report carries the refused level's ``distortion``)."""
    return result.get("status") == TrialStatus.FAILED and bool(result.get("distortion")) and not result.get("feasible")


class ConstrainedOptunaSearch(OptunaSearch):
    """``OptunaSearch`` with constraint values, that deploys no config twice."""

    # Defaults for a searcher pickled before the twin guided it (a resumed campaign folder of 148968d
    # or 4fe9b38): it resumes without the twin.
    _guide: TwinGuide | None = None
    _best_assured = 0.0
    _listed: list[dict[str, Any]] | None = None
    _tried: frozenset[str] = frozenset()  # config keys deployed, or set aside by the twin
    _first_alone = False  # the first trial (the twin's best) runs alone while the twin is right about it
    _alone_ended = False  # the first trial's solitude ended for good (the calibrated twin ranked another first)

    def __init__(self, *args: Any, guide: TwinGuide | None = None, first_alone: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._measured: dict[str, tuple[float, float]] = {}  # config's params -> (value, constraint) told
        self._guide = guide
        self._best_assured = 0.0  # what the best ended trial is sure of
        self._listed = _listed_configs(self._space)  # every config of a small space (search parameters), else None
        self._rng = random.Random(0)
        self._first_alone = first_alone and guide is not None
        self._first_level_met: dict[str, bool] = {}  # trial id -> whether its first level met the SLOs

    def suggest(self, trial_id: str) -> dict | None:
        if self._first_still_alone():
            return None  # Tune asks again later
        if self._guide is not None and self._ot_study is not None and not self._waiting_points():
            tried = {config_key(t.params) for t in self._ot_trials.values()}
            point = self._guide.proposal(tried, self._best_assured)
            if point is not None:
                self._ot_study.enqueue_trial(point)
        run_again = False
        for attempt in range(MAX_REUSED + 1):
            config = super().suggest(trial_id)
            if config is None:
                return None
            params = self._ot_trials[trial_id].params
            known = self._measured.get(self._params_key(trial_id))
            if known is None and self._guide is not None:
                known = self._guide.verdict(params, self._best_assured)
                if known is not None:
                    self._tried = self._tried | {config_key(params)}
            if known is None or run_again or attempt == MAX_REUSED:
                break
            ot_trial = self._ot_trials.pop(trial_id)
            ot_trial.set_constraint(CONSTRAINT, known[1])
            self._ot_study.tell(ot_trial, known[0])
            if attempt + 1 >= REDRAWS and self._listed is not None:
                untried = [c for c in self._listed if config_key(c) not in self._tried]
                if untried:
                    self._ot_study.enqueue_trial(self._rng.choice(untried))
                else:
                    run_again = True  # every config was tried: the next proposal runs again
        params = self._ot_trials[trial_id].params
        self._tried = self._tried | {config_key(params)}
        loads = self._guide.first_loads(params) if self._guide is not None else {}
        return TrialDirective.search_from(loads).into(config) if loads else config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self._guide is not None and trial_id in self._ot_trials:
            report = TrialReport.from_tune(result)
            if report.measured is not None:
                if self._first_alone:
                    self._first_level_met.setdefault(trial_id, report.meets_slo)
                self._guide.observe_level(self._ot_trials[trial_id].params, report.measured)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and not error and refused_by_host(result):
            super().on_trial_complete(trial_id, None, error=True)  # a failed Optuna trial: not learned from
            return
        if result and not error and trial_id in self._ot_trials and trial_id not in self._completed_trials:
            value, constraint = learned_value(result)
            self._best_assured = max(self._best_assured, best_assured(result))
            self._ot_trials[trial_id].set_constraint(CONSTRAINT, constraint)
            self._measured[self._params_key(trial_id)] = (value, constraint)
            result = {**result, self.metric: value}
        super().on_trial_complete(trial_id, result, error)

    def _first_still_alone(self) -> bool:
        """Whether the campaign's first trial (the twin's best) still runs alone: no trial ended
        yet, and its first level is to come, met the SLOs, or failed while the twin calibrated on
        its levels still predicts it at least as good as every start config waiting."""
        if not self._first_alone or self._completed_trials or self._alone_ended:
            return False
        first = next(iter(self._ot_trials), None)
        if first is None:
            return False
        if self._first_level_met.get(first, True):  # its first level is to come, or met the SLOs
            return True
        # its first level failed: the twin is off here, but calibrated on that trial's levels it may
        # still rank the trial first; a single refit must not bring the solitude back once it ended.
        # With no start config waiting there is nothing to rank it against: the sampler fills the slots.
        waiting = self._waiting_points()
        ahead = self._guide.predict(self._ot_trials[first].params).score if waiting else 0.0
        self._alone_ended = not waiting or any(self._guide.predict(point).score > ahead for point in waiting)
        return not self._alone_ended

    def _waiting_points(self) -> list[dict[str, Any]]:
        """The configs waiting in Optuna's queue (the task's and the twin's, enqueued before)."""
        from optuna.trial import TrialState

        waiting = self._ot_study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return [t.system_attrs["fixed_params"] for t in waiting if "fixed_params" in t.system_attrs]

    def _params_key(self, trial_id: str) -> str:
        return json.dumps(self._ot_trials[trial_id].params, sort_keys=True, default=str)


def _listed_configs(space: Any) -> list[dict[str, Any]] | None:
    """Every config of ``space`` (its search parameters) when it has at most :data:`MAX_LISTED`."""
    if not isinstance(space, SearchSpace) or space_size(space) > MAX_LISTED:
        return None
    names = {name for name, _ in space.params}
    return [{k: v for k, v in c.items() if k in names} for c in grid_configs(space)]


__all__ = ["CONSTRAINT", "ConstrainedOptunaSearch", "MAX_LISTED", "REDRAWS", "learned_value", "refused_by_host"]
