"""Live progress for the CLI: one line per trial event, and a summary line as trials end.

    12:01:02 trial 3f2a_00001 deploying on 1 GPU: tp=1 mem=0.85 mrr=128 chunk=4096
    12:01:09 trial 3f2a_00001 level 2 D(100,100) c=16 (grow): 1843 tok/s/GPU ttft90 41ms tpot90 9ms ok  score 1843
    12:01:15 trial 3f2a_00001 stopped early after level 3: it can reach at most 1900 ..., below the 2100 the best trial is sure of (...)
    12:01:40 trial 3f2a_00002 level 2 D(100,100) c=32 (grow; host distorted 1 run(s) before this one: run again): ...
    12:01:15 progress: 5/12 trials ended, 4 running, best 2210 tok/s/GPU (3f2a_00004)
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from autotuner.results.dashboard import actor_url, dashboard_url, trial_actor_id
from autotuner.engines.base import GPU, SIMULATED_GPU
from autotuner.results.folder import CampaignFolder
from autotuner.results.standing import standing
from autotuner.trial.objective import assured_score, stop_explanation
from autotuner.task.space import describe_config
from autotuner.trial.host_distortion import unscored
from autotuner.trial.directive import TrialDirective
from autotuner.trial.report import TrialReport


def describe_level(report: TrialReport, unit: str) -> str:
    """One reported level in one line."""
    level = report.measured
    assert level is not None, "a final report measured no level"

    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v * 1000:.0f}ms"

    # a level the host distorted in every run is neither a pass nor a fail (autotuner.trial.host_distortion)
    slo = "not scored (host distorted)" if unscored(level) else "ok" if report.meets_slo else "SLO missed"
    note = f" ({report.load_note})" if report.load_note else ""
    return (f"level {report.level} {level.scenario} c={level.concurrency}{note}: "
            f"{report.output_tok_s_per_gpu:.0f} tok/s/GPU ttft90 {ms(level.ttft_p90_s)} tpot90 {ms(level.tpot_p90_s)} "
            f"err {level.error_rate:.0%} {slo}  score {report.score:.4g} ({unit})")


class ProgressPrinter(Callback):
    """Prints trial events as they happen (for the CLI; the web app has its own view)."""

    def __init__(self, num_trials: int, unit: str, stream: TextIO | None = None, folder: str | None = None):
        self.num_trials = num_trials
        self.unit = unit
        self.folder = folder  # the campaign's: a resumed run counts on from its trials.parquet
        self._stream = stream
        self._ended: set[str] = set()  # search trials
        self._remeasured: set[str] = set()
        self._best: tuple[float, str] | None = None
        self._assured_best: float | None = None  # what the early-stopping rule compares with
        self._ended_before: frozenset[str] = frozenset()  # trials that ended in an earlier run
        self._dashboard: str | None = None  # looked up at the first trial (the driver is connected then)
        self._actor_links: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"num_trials": self.num_trials, "unit": self.unit, "folder": self.folder}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def setup(self, **info: Any) -> None:
        """Start from the trials that ended before (a resume, or the re-measurement after a
        resumed search, whose printer Tune restored apart from this one)."""
        if self.folder is None:
            return
        trials = CampaignFolder(self.folder).read_trials()
        before = standing(trials)
        self._ended_before = frozenset(t.trial_id for t in trials if t.has_ended)
        self._ended |= before.ended
        self._remeasured |= before.remeasured
        if before.best is not None and (self._best is None or before.best[0] > self._best[0]):
            self._best = before.best
        if before.assured_best is not None:
            self._assured_best = max(self._assured_best or before.assured_best, before.assured_best)

    def _print(self, text: str) -> None:
        out = self._stream or sys.stdout
        print(f"{time.strftime('%H:%M:%S')} {text}", file=out, flush=True)

    def _link(self, trial_id: str) -> str:
        """`` (dashboard: URL)``: the trial's actor page, with its logs; empty without a dashboard."""
        link = self._actor_links.get(trial_id)
        return f"  (dashboard: {link})" if link else ""

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._ended_before:  # Tune's saved state is older than the folder
            self._print(f"trial {trial.trial_id} ended in an earlier run: its record stands, not deployed again")
            return
        if self._dashboard is None:
            self._dashboard = dashboard_url() or ""
        actor_id = trial_actor_id(trial)
        if self._dashboard and actor_id:
            self._actor_links[trial.trial_id] = actor_url(self._dashboard, actor_id)
        claimed = trial.placement_group_factory.required_resources or {}
        gpus = sum(claimed.get(slot, 0) for slot in (GPU, SIMULATED_GPU))
        where = f"deploying on {gpus:g} GPU" if gpus else "checking (claims no GPU: it cannot fit)"
        self._print(f"trial {trial.trial_id} {where}: {describe_config(trial.config)}{self._link(trial.trial_id)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if trial.trial_id in self._ended_before:  # its recorded end, said when it ended
            return
        report = TrialReport.from_tune(result)
        if report.measured is not None:
            self._print(f"trial {trial.trial_id} {describe_level(report, self.unit)}")
        remeasure = report.remeasured_repeats is not None or TrialDirective.of_config(trial.config).remeasures
        if not remeasure and report.feasible and (self._best is None or report.score > self._best[0]):
            self._best = (report.score, trial.trial_id)
        if not remeasure and report.feasible:
            assured = assured_score(report.score, report.boundary)
            self._assured_best = assured if self._assured_best is None else max(self._assured_best, assured)
        if report.status in ("failed", "rejected"):
            self._print(f"trial {trial.trial_id} {report.status}: {report.reason}{self._link(trial.trial_id)}")
            if report.log_tail:
                self._print("  " + report.log_tail.replace("\n", "\n  "))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = (TrialReport.from_tune(trial.last_result)
                if trial.last_result and trial.trial_id not in self._ended_before else None)
        if last is not None and last.status == "running":
            why = stop_explanation(last.score_bound, self._assured_best, last.bound_note, self.unit)
            self._print(f"trial {trial.trial_id} stopped early after level {last.level}{why}")
        elif last is not None and last.status == "done" and last.remeasured_repeats is not None:
            spread = (f"mean {last.remeasured_mean:.4g} [{last.remeasured_min:.4g}-{last.remeasured_max:.4g}]"
                      if last.remeasured_mean is not None else "no repeat met the SLOs")
            self._print(f"trial {trial.trial_id} re-measured {describe_config(trial.config)}: {spread} {self.unit}, "
                        f"{last.remeasured_passed}/{last.remeasured_repeats} repeats met the SLOs")
        elif last is not None and last.status == "done":
            self._print(f"trial {trial.trial_id} done: score {last.score:.4g}"
                        + ("" if last.feasible else f" (infeasible: {last.reason})"))
        remeasured = TrialDirective.of_config(trial.config).remeasures
        (self._remeasured if remeasured else self._ended).add(trial.trial_id)
        self._summary(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error_file = getattr(trial, "error_file", "")
        self._print(f"trial {trial.trial_id} errored (see {error_file}){self._link(trial.trial_id)}")
        self._ended.add(trial.trial_id)
        self._summary(trials)

    def _summary(self, trials: list) -> None:
        running = sum(1 for t in trials if t.status == "RUNNING" and t.trial_id not in self._ended | self._remeasured)
        best = f"best {self._best[0]:.4g} {self.unit} ({self._best[1]})" if self._best else "no feasible trial yet"
        again = f", {len(self._remeasured)} re-measured" if self._remeasured else ""
        self._print(f"progress: {len(self._ended)}/{self.num_trials} trials ended{again}, {running} running, {best}")
