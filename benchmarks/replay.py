"""A campaign replayed in modelled time over the ground truth, without Ray or any process.

The searcher, the scheduler, each trial's level plan (:class:`~autotuner.trial.sweep.TrialSweep`: the
load search, the re-measurement) and the answer (:mod:`autotuner.results.answer`) are the campaign's own
code; only the engine and genai-bench are replaced by the ground truth's noise-free levels read
through a :class:`~benchmarks.noise.NoiseModel`. The searcher and scheduler are driven through the
calls Ray Tune's ``TuneController`` makes (``ray/tune/execution/tune_controller.py``, Ray 2.60):

* new trials are asked for while fewer than ``slots`` are live (the campaign's
  ``ConcurrencyLimiter(max_concurrent=budget.gpus)``, which is also Tune's pending-trial limit);
* a trial starts when its tp*dp GPUs are free (first fit, in the order trials were created;
  rejected configs claim none) and reports after each level;
* a report with ``done`` stops the trial; any other goes to ``scheduler.on_trial_result``, and
  only a CONTINUE reaches ``searcher.on_trial_result``; a stopped trial gets
  ``scheduler.on_trial_complete`` and then ``searcher.on_trial_complete`` with its last report.

With ``load_hint`` (the campaign's early stopping), every search report is offered to an
:class:`~autotuner.stopping.load_hint.Incumbent`, as the campaign's ``IncumbentFeed`` does, a
trial starts its load search at the best boundary load known when it gets its GPUs, and a level
above a passing one ends once its requests prove it fails (:func:`ended_early`, on the simulator's
requests in the order they ended). Without it, every level runs to its end.

Searchers may also be plain objects with ``suggest``/``on_trial_result``/``on_trial_complete``
(the baselines), and may propose :class:`StartOnly` deployments.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from autotuner.results.answer import Answer, choose, remeasure_configs
from autotuner.bench.fail_fast import RequestRecord, ended_level
from autotuner.bench.request import LevelRequest
from autotuner.bench.result import LevelResult
from autotuner.trial.objective import objective_from_spec
from autotuner.results.records import REMEASURED_FIELDS, TrialRecord, TrialStatus
from autotuner.trial.directive import Phase, TrialDirective
from autotuner.twin.alike import Behaviour
from autotuner.stopping.load_hint import Incumbent
from autotuner.task.space import engine_args
from autotuner.task.spec import TaskSpec
from autotuner.trial.sweep import TrialSweep, final_report, plan_for_trial
from benchmarks.ground_truth import OK, GroundTruth
from benchmarks.ground_truth import REJECTED as OUTCOME_REJECTED
from benchmarks.noise import NoiseModel
from benchmarks.space_grid import config_key
from benchmarks.trial_cost import first_level_at, level_seconds

# Tune's constants (ray.tune.search.Searcher.FINISHED, TrialScheduler.CONTINUE/STOP).
FINISHED = "FINISHED"
CONTINUE, STOP = "CONTINUE", "STOP"
READY = "ready"  # status of a StartOnly deployment that came up


@dataclass(frozen=True)
class StartOnly:
    """A deployment that is torn down as soon as it is ready (no benchmark)."""

    config: dict[str, Any]


class Searcher(Protocol):
    def suggest(self, trial_id: str) -> dict[str, Any] | StartOnly | str | None: ...
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None: ...
    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None: ...


class Scheduler(Protocol):
    def on_trial_add(self, tune_controller: Any, trial: Any) -> None: ...
    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str: ...
    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None: ...


@dataclass
class TrialRun:
    """One trial of a replayed campaign, in modelled seconds from the campaign's start."""

    trial_id: str
    key: str  # config_key of its engine args
    config: dict[str, Any]  # as proposed, with the campaign's directives (load hint, re-measurement)
    gpus: int
    start_only: bool
    phase: str = Phase.SEARCH
    start_s: float = -1.0
    end_s: float = -1.0
    bench_start_s: float = -1.0  # when its first level began (its engine was up)
    sweep: TrialSweep | None = None
    pending: LevelResult | None = None  # the level running now, as it will be measured
    last: dict[str, Any] = field(default_factory=dict)  # its last report
    status: str = ""  # autotuner.results.folder status once ended (DONE, STOPPED_EARLY, FAILED, REJECTED)

    @property
    def levels_run(self) -> int:
        return len(self.sweep.levels) if self.sweep else 0

    @property
    def score(self) -> float:
        return float(self.last.get("score") or 0.0)

    @property
    def feasible(self) -> bool:
        return bool(self.last.get("feasible"))

    @property
    def directive(self) -> TrialDirective:
        return TrialDirective.of_config(self.config)

    def gpu_seconds(self) -> float:
        return self.gpus * (self.end_s - self.start_s)

    def bench_gpu_seconds(self) -> float:
        return self.gpus * max(0.0, self.end_s - max(self.bench_start_s, self.start_s))

    def record(self) -> TrialRecord:
        """The trial as the campaign's results table would hold it."""
        rec = TrialRecord(self.trial_id, engine_args(self.config), phase=self.phase, status=self.status, gpus=self.gpus,
                          levels_run=self.levels_run, score=self.score, feasible=self.feasible,
                          boundary=dict(self.last.get("boundary") or []), remeasure_of=self.directive.remeasure_of,
                          started=self.start_s, ended=self.end_s)
        for name in REMEASURED_FIELDS:
            setattr(rec, name, self.last.get(name))
        return rec


@dataclass(frozen=True)
class _Handle:
    """What Tune's schedulers read of a trial (Tune's ``Trial`` has these attributes)."""

    trial_id: str
    config: dict[str, Any] = field(compare=False)  # equal and hashed by trial_id, as Tune's trials by identity


class ReplayError(RuntimeError):
    """The searcher left nothing running and proposed nothing (it would hang a campaign)."""


def without_early_stopping(spec: TaskSpec) -> TaskSpec:
    """``spec`` as a contender without early stopping runs it (its levels run to their end)."""
    return spec.model_copy(update={"search": spec.search.model_copy(update={"early_stopping": "none"})})


def ended_early(request: LevelRequest, level: LevelResult, measured: LevelResult,
                finished: Sequence[tuple[float, ...]], minutes_per_level: int) -> LevelResult | None:
    """The level a trial reports when its fail-fast check (:mod:`autotuner.bench.fail_fast`) ends
    it: the noise-free ``level``'s requests, in the order they ended, read through the noise that
    made ``measured`` (its throughput factor on their end times, its p90 factors on their
    latencies), fed to the check one by one. None when the level runs to its end."""
    assert request.fail_fast is not None
    rate = measured.output_tok_s / level.output_tok_s if level.output_tok_s else 1.0
    ttft_factor = _factor(measured.ttft_p90_s, level.ttft_p90_s)
    latency_factor = _factor(measured.tpot_p90_s, level.tpot_p90_s)
    records: list[RequestRecord] = []
    for end, ttft, e2e, output_tokens, input_tokens in finished:
        end /= rate
        if end > minutes_per_level * 60.0:
            return None
        tpot = (e2e - ttft) / (output_tokens - 1) * latency_factor if output_tokens > 1 else None
        record = RequestRecord(ttft * ttft_factor, tpot, e2e * latency_factor, int(output_tokens), int(input_tokens))
        records.append(record)
        # only a request over a limit can complete a proof (the trial checks at every poll)
        if any((getattr(record, metric) or 0.0) > limit for metric, limit in request.fail_fast.limits):
            proven = request.fail_fast.verdict(records, request.max_requests, request.concurrency)
            if proven:
                return ended_level(request.scenario, request.concurrency, records, end, proven)
    return None


def _factor(measured: float | None, true: float | None) -> float:
    return measured / true if measured and true else 1.0


class _Campaign:
    """The event loop of one replayed experiment."""

    def __init__(self, truth: GroundTruth, noise: NoiseModel, rng: random.Random, phase: str, early_stopping: bool):
        self.truth = truth
        # the levels' own early stopping (autotuner.bench.fail_fast) follows the contender's
        self.spec = truth.spec if early_stopping else without_early_stopping(truth.spec)
        self.objective = objective_from_spec(self.spec.objective)
        self.minutes = self.spec.workload.minutes_per_level
        self.noise = noise
        self.rng = rng
        self.phase = phase
        self.events: list[tuple[float, int, int]] = []  # (time, seq, trial index)
        self.seq = 0

    def push(self, at: float, index: int) -> None:
        heapq.heappush(self.events, (at, self.seq, index))
        self.seq += 1

    def start(self, run: TrialRun, index: int, now: float, hint: dict[str, float]) -> None:
        """The trial got its GPUs: schedule its first report; ``hint``: the best boundary load per GPU."""
        run.start_s = now
        truth = self.truth.configs[run.key]
        if truth.status == OUTCOME_REJECTED:
            self.push(now, index)
        elif truth.status != OK or run.start_only:
            self.push(now + truth.startup_s, index)
        else:
            run.sweep = TrialSweep(plan_for_trial(self.spec, run.directive, run.gpus, self.objective.slo, hint),
                                   self.objective, run.gpus)
            run.bench_start_s = now + first_level_at(truth.startup_s)
            self.schedule_level(run, index, run.bench_start_s)

    def schedule_level(self, run: TrialRun, index: int, now: float) -> None:
        assert run.sweep is not None
        request = run.sweep.next_level()
        assert request is not None
        level = self.truth.level(run.key, request.scenario, request.concurrency)
        run.pending = self.noise.measure(level, self.rng)
        if request.fail_fast is not None and not self.objective.slo.met(run.pending):
            finished = self.truth.requests(run.key, request.scenario, request.concurrency)
            run.pending = ended_early(request, level, run.pending, finished, self.minutes) or run.pending
        self.push(now + level_seconds(run.pending, self.minutes), index)

    def report(self, run: TrialRun) -> dict[str, Any]:
        """The trial's next report, as the trainable would send it."""
        truth = self.truth.configs[run.key]
        if run.sweep is None:
            if run.start_only and truth.status == OK:
                return {"training_iteration": 1, "score": 0.0, "feasible": False, "done": True, "status": READY}
            sweep = TrialSweep(plan_for_trial(self.spec, run.directive, run.gpus, self.objective.slo), self.objective,
                               run.gpus)
            status = TrialStatus.REJECTED if truth.status == OUTCOME_REJECTED else TrialStatus.FAILED
            return {**final_report(sweep, status, truth.reason).to_tune(), "training_iteration": 1}
        assert run.pending is not None
        run.sweep.add(run.pending)
        run.pending = None
        return {**run.sweep.report().to_tune(), "training_iteration": run.levels_run}


def replay_campaign(truth: GroundTruth, searcher: Searcher, scheduler: Scheduler, *, slots: int, budget: int,
                    noise: NoiseModel, seed: int, start_s: float = 0.0, phase: str = Phase.SEARCH,
                    load_hint: bool = False) -> list[TrialRun]:
    """Run an experiment of at most ``budget`` trials on ``slots`` GPUs, from ``start_s``; the
    trials in end order."""
    loop = _Campaign(truth, noise, random.Random(f"{seed}-{phase}"), phase, load_hint)
    incumbent = Incumbent()
    trials: list[TrialRun] = []
    pending: list[int] = []
    ended: list[TrialRun] = []
    live, free = 0, slots
    now = start_s
    exhausted = False

    while True:
        while not exhausted and len(trials) < budget and live < slots:
            trial_id = f"{phase[0]}{len(trials):05d}"
            suggestion = searcher.suggest(trial_id)
            if suggestion is None:
                break
            if suggestion == FINISHED:
                exhausted = True
                break
            start_only = isinstance(suggestion, StartOnly)
            config = dict(suggestion.config if start_only else suggestion)
            outcome = truth.truth(config)
            trials.append(TrialRun(trial_id, config_key(engine_args(config)), config, outcome.gpus, start_only, phase))
            scheduler.on_trial_add(None, _Handle(trial_id, config))
            pending.append(len(trials) - 1)
            live += 1
        for index in list(pending):
            run = trials[index]
            if run.gpus <= free:
                free -= run.gpus
                pending.remove(index)
                loop.start(run, index, now, incumbent.hint() if load_hint else {})
        if not loop.events:
            if pending or (not exhausted and len(trials) < budget):
                raise ReplayError(f"nothing running, {len(pending)} trials cannot start and the "
                                  f"searcher proposed nothing after {len(trials)} of {budget} trials")
            return ended
        now, _, index = heapq.heappop(loop.events)
        run = trials[index]
        result = loop.report(run)
        run.last = result
        incumbent.offer_report(result)
        handle = _Handle(run.trial_id, run.config)
        decision = STOP if result.get("done") else scheduler.on_trial_result(None, handle, result)
        if decision == STOP:
            scheduler.on_trial_complete(None, handle, result)
            searcher.on_trial_complete(run.trial_id, result)
            run.end_s = now
            run.status = result["status"] if result.get("done") else TrialStatus.STOPPED_EARLY
            free += run.gpus
            live -= 1
            ended.append(run)
        else:
            searcher.on_trial_result(run.trial_id, result)
            loop.schedule_level(run, index, now)


@dataclass
class CampaignReplay:
    """A whole replayed campaign: the search, then the re-measurement, and the answer."""

    search: list[TrialRun]
    remeasure: list[TrialRun]
    answer: Answer | None

    @property
    def end_s(self) -> float:
        return max((r.end_s for r in self.search + self.remeasure), default=0.0)


def replay_with_answer(truth: GroundTruth, searcher: Searcher, scheduler: Scheduler, *, slots: int, budget: int,
                       noise: NoiseModel, seed: int, load_hint: bool = False,
                       alike: Behaviour | None = None) -> CampaignReplay:
    """The search, then (as ``autotuner run`` does) the re-measurement of the best configs at their
    boundary load (``alike`` configs counted once), and the answer
    :func:`autotuner.results.answer.choose` gives."""
    from ray.tune.schedulers import FIFOScheduler

    from autotuner.search.fixed import FixedConfigs

    search = replay_campaign(truth, searcher, scheduler, slots=slots, budget=budget, noise=noise, seed=seed,
                             load_hint=load_hint)
    records = [run.record() for run in search]
    configs = remeasure_configs(records, truth.spec.remeasure, alike)
    remeasure: list[TrialRun] = []
    if configs:
        end = max(run.end_s for run in search)
        remeasure = replay_campaign(truth, FixedConfigs(configs), FIFOScheduler(), slots=slots, budget=len(configs),
                                    noise=noise, seed=seed, start_s=end, phase=Phase.REMEASURE)
    answer = choose(records + [run.record() for run in remeasure])
    return CampaignReplay(search, remeasure, answer)


__all__ = ["CampaignReplay", "ended_early", "FINISHED", "READY", "ReplayError", "StartOnly", "TrialRun", "replay_campaign",
           "replay_with_answer"]
