"""Twin-guided search (``search.prior: twin``): the campaign starts from the twin's ranking, re-ranks
with the twin calibrated on every measured level, and does not deploy what the twin is sure cannot
compete.

* :func:`twin_start`: before the first trial, the twin screens the space (a smaller sample than
  ``autotuner plan``'s, so the campaign starts within seconds), confirms its head and each
  parameter value's best (:func:`autotuner.twin.plan.to_confirm`) with the discrete-event
  simulator, climbs from the best of those to better neighbours (:mod:`autotuner.twin.climb`) and
  returns its best configs, diversified (each differs from the ones before it in two parameters
  or more), as many as fill the GPU slots once, to be tried right after the task's
  ``initial_configs``;
* :class:`TwinGuide` fits the twin's step times to every level measured so far
  (:mod:`autotuner.twin.calibrate`), then

  - *proposes*: the screened configs not tried yet, re-ranked by the calibrated fast path, its
    head and each parameter value's best confirmed by the calibrated discrete-event simulator;
    the best of those that differs from each earlier proposal in 2+ parameters, one of which
    matters to the calibrated ranking (:data:`MATTERS`), runs next while it is predicted within
    :data:`PROPOSE_SHARE` of what the best trial is sure of (at most :data:`PROPOSALS` of them;
    then the sampler alone proposes). Near-copies would spend the proposals on one corner the
    calibrated twin may still misjudge;
  - *starts loads*: a config's load search starts at the twin's predicted boundary load while no
    trial met the SLOs yet (:meth:`TwinGuide.first_loads`), instead of growing from ``load.start``;
  - *vetoes*: a config the sampler proposes whose calibrated prediction is below
    :data:`VETO_SHARE` of what the best trial is sure of is not deployed, and the sampler is told
    the prediction instead. The margin is wide on purpose: the twin's step times were 0.55-0.99
    of real ones and it knows the engine's memory reserve least, so only configs it puts far
    behind are skipped; a config it predicts cannot start is deployed anyway (the engine decides).
"""

from __future__ import annotations

import time
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Sequence

from autotuner.sim.version import simulator_version
from autotuner.task.space import SearchSpace, describe_config
from autotuner.task.spec import TaskSpec
from autotuner.bench.result import LevelResult
from autotuner.twin.calibrate import CalibrationReport, Observation, calibration_report, fit, usable
from autotuner.twin.climb import CLIMB_STARTS, climb
from autotuner.twin.grid import config_key, configs_to_screen
from autotuner.twin.plan import differing, diversified, parameter_effects, rank, to_confirm
from autotuner.twin.predict import ConfigPrediction, Model, Outcome, Twin
from autotuner.twin.steady import Calibration

START_SAMPLE = 1000  # configs the campaign's twin screens before the first trial
START_CONFIRMED = 8  # of them, the best confirmed by the discrete-event simulator (and each parameter value's best)
VETO_SHARE = 0.5  # not deployed: predicted (calibrated) below this share of the best trial's assured score
PROPOSE_SHARE = 0.97  # proposed: predicted (calibrated) at least this share of the best trial's assured score
PROPOSALS = 6  # the calibrated twin's proposals at most, after its start configs
RERANK_CHANGE = 0.05  # the screened configs are re-ranked when a calibration factor moved this much
RERANK_TOP = 3  # of a re-ranking, the best confirmed by the calibrated discrete-event simulator (and each value's best)
PROPOSAL_DIFFERENCES = 2  # a proposal differs in this many parameters at least from the earlier ones
MATTERS = 0.02  # a parameter matters when its values' best calibrated predictions differ by this share of the best
FIT_LEVELS = 40  # the calibration fits the most recent this many measured levels


@dataclass(frozen=True)
class TwinStart:
    """What the twin gives a campaign before its first trial."""

    points: tuple[dict[str, Any], ...]  # search-space values of the configs to try first, best first
    predictions: tuple[ConfigPrediction, ...]  # the simulator's prediction of each
    screened: tuple[dict[str, Any], ...]  # the configs screened (engine parameters): what the guide re-ranks
    compute_s: float
    first_alone: bool = False  # the first runs alone while the twin ranks it first (no initial_configs)

    def line(self) -> str:
        """The progress line that says the campaign uses the twin."""
        best = self.predictions[0] if self.predictions else None
        head = (f"; its best predicted {best.score:.0f} output tok/s per GPU" if best else "")
        alone = (", the first alone while its first level meets the SLOs or the twin, calibrated on its levels, "
                 "still ranks it first") if self.first_alone else ""
        return (f"twin: simulator {simulator_version()} screened {len(self.screened)} configs in {self.compute_s:.1f} s; "
                f"its {len(self.points)} best (diversified) run first{alone}{head}; then it re-ranks, calibrated on "
                f"the measured levels, and configs it predicts below {VETO_SHARE:.0%} of the best trial are not "
                "deployed (search.prior: none turns this off)")


def start_count(spec: TaskSpec, predictions: Sequence[ConfigPrediction]) -> int:
    """How many of the twin's best ``predictions`` a campaign tries first: as many as fill its GPU
    slots once, at least one, at most a quarter of the trial budget."""
    count, gpus = 0, 0
    for p in predictions:
        gpus += max(1, p.gpus)
        if gpus > spec.budget.gpus:
            break
        count += 1
    return max(1, min(count, spec.budget.trials // 4))


def twin_start(spec: TaskSpec, count: int | None = None, sample: int = START_SAMPLE) -> TwinStart:
    """The twin's best configs for ``spec``, diversified, minus the task's own initial configs."""
    t0 = time.monotonic()
    twin = Twin(spec)
    space = SearchSpace.from_spec(spec)
    configs, _ = configs_to_screen(space, sample, spec.seed)
    screened = [twin.predict(c, Model.STEADY) for c in configs]
    names = set(spec.search.space)
    head = to_confirm(screened, list(spec.search.space), START_CONFIRMED)
    confirmed = rank([twin.predict(p.config, Model.SIMULATOR) for p in head])
    climbed = climb(twin, space, diversified(confirmed, CLIMB_STARTS), known=confirmed)
    confirmed = rank(confirmed + climbed)
    initial = {config_key({k: v for k, v in c.items() if k in names}) for c in spec.search.initial_configs}
    chosen = [p for p in diversified(confirmed, len(confirmed))
              if config_key({k: v for k, v in p.config.items() if k in names}) not in initial]
    chosen = chosen[:start_count(spec, chosen) if count is None else count]
    return TwinStart(points=tuple({k: v for k, v in p.config.items() if k in names} for p in chosen),
                     predictions=tuple(chosen), screened=tuple(p.config for p in (*screened, *climbed)),
                     compute_s=time.monotonic() - t0, first_alone=not spec.search.initial_configs)


@dataclass
class TwinGuide:
    """Calibrates the twin from every level the trials measure (:mod:`autotuner.twin.calibrate`),
    proposes the calibrated twin's best configs not tried yet, and decides, per config the sampler
    proposes, whether the twin is sure enough it cannot compete."""

    spec: TaskSpec
    share: float = VETO_SHARE
    protected: set[str] = field(default_factory=set)  # config keys never vetoed (enqueued first, proposed)
    candidates: tuple[dict[str, Any], ...] = ()  # configs the twin re-ranks for its proposals (engine parameters)
    predicted: dict[str, ConfigPrediction] = field(default_factory=dict)  # config key -> the simulator's prediction (start configs, proposals)
    observations: list[Observation] = field(default_factory=list)  # (engine parameters, measured level)
    vetoed: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (config, why)
    proposed: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (config, why)
    calibration: Calibration = field(default_factory=Calibration)
    report: CalibrationReport | None = None  # how far the twin was before / after the last fit
    announce: Callable[[str], None] | None = None  # gets a line per config proposed or not deployed
    _fitted_on: int = 0  # levels the calibration was last fitted on
    _scratch_on: int = 0  # levels it was last fitted on from scratch
    _predictions: dict[str, ConfigPrediction] = field(default_factory=dict)
    _ranking: list[ConfigPrediction] = field(default_factory=list)
    _ranked_with: Calibration | None = None

    def proposal(self, tried: set[str], best_assured: float) -> dict[str, Any] | None:
        """The search-space values of the calibrated twin's best config not in ``tried`` (config
        keys of search-space values), or None: before any level was measured, once
        :data:`PROPOSALS` were made, or when none is predicted within :data:`PROPOSE_SHARE` of
        ``best_assured``."""
        if not self.observations or len(self.proposed) >= PROPOSALS or not self.candidates:
            return None
        self._refit()
        if self._ranked_with is None or _moved(self._ranked_with, self.calibration) > RERANK_CHANGE:
            self._ranking = self._rerank(tried)
            self._ranked_with = self.calibration
        matters = {e.name for e in parameter_effects(SearchSpace.from_spec(self.spec), self._ranking)
                   if e.spread >= MATTERS}
        for p in self._ranking:
            if p.outcome is not Outcome.OK or p.score < PROPOSE_SHARE * best_assured:
                return None
            point = self._space_config(p.config)
            key = config_key(point)
            if key in tried or key in self.protected or not all(
                    unlike(point, self._space_config(c), matters) for c, _ in self.proposed):
                continue
            self.protected.add(key)
            self.predicted[key] = p
            why = (f"predicted {p.score:.0f} output tok/s per GPU, calibrated on {len(self.observations)} levels"
                   + (f" (best trial sure of {best_assured:.0f})" if best_assured > 0 else ""))
            self.proposed.append((self._engine_config(point), why))
            if self.announce is not None:
                self.announce(f"twin: proposing {describe_config(point)}: {why}")
            return point
        return None

    def predict(self, config: dict[str, Any]) -> ConfigPrediction:
        """The calibrated fast path's prediction (refitted first when levels came in since)."""
        self._refit()
        key = config_key(self._engine_config(config))
        if key not in self._predictions:
            twin = Twin(self.spec, self.calibration)
            self._predictions[key] = twin.predict(self._engine_config(config), Model.STEADY)
        return self._predictions[key]

    def first_loads(self, config: dict[str, Any]) -> dict[str, int]:
        """The twin's predicted boundary load of ``config`` per scenario ({} where it predicts none):
        where its trial's load search starts when no trial met the SLOs yet (the best trial's
        boundary load comes first: :func:`autotuner.trial.sweep.plan_for_trial`). For the start
        configs and proposals the discrete-event simulator's, for others the calibrated fast path's."""
        key = config_key(self._space_config(config))
        p = self.predicted[key] if key in self.predicted else self.predict(config)
        return dict(p.boundary) if p.outcome is Outcome.OK else {}

    def observe_level(self, config: dict[str, Any], level: LevelResult) -> None:
        """A trial measured a level: keep it for the next fit (levels ended early say too little)."""
        if usable(level):
            self.observations.append((self._engine_config(config), level))

    def verdict(self, config: dict[str, Any], best_assured: float) -> tuple[float, float] | None:
        """(value, constraint) to tell the sampler instead of deploying ``config``, or None to deploy it."""
        if best_assured <= 0 or config_key(self._space_config(config)) in self.protected:
            return None
        p = self.predict(config)
        if p.outcome in (Outcome.REJECTED, Outcome.STARTUP_FAILED):
            return None  # the pre-deployment checks and the engine decide those, not the twin
        if p.score >= self.share * best_assured:
            return None
        why = f"predicted {p.score:.0f} < {self.share:.0%} of the {best_assured:.0f} the best trial is sure of"
        self.vetoed.append((self._engine_config(config), why))
        if self.announce is not None:
            calibrated = f"; {self.report.line()}" if self.report is not None else ""
            self.announce(f"twin: not deploying {describe_config(config)}: {why} (output tok/s per GPU){calibrated}")
        return (p.score, 0.0) if p.outcome is Outcome.OK else (0.0, 1.0)

    def _rerank(self, tried: set[str]) -> list[ConfigPrediction]:
        """The candidates not tried yet, ranked by the calibrated fast path, its head and each
        parameter value's best confirmed by the calibrated discrete-event simulator (the fast
        path's ranking alone can be far off where the scheduler's dynamics matter)."""
        twin = Twin(self.spec, self.calibration)
        fresh = [c for c in self.candidates if config_key(self._space_config(c)) not in tried | self.protected]
        ranked = rank([twin.predict(c, Model.STEADY) for c in fresh])
        return rank([twin.predict(p.config, Model.SIMULATOR)
                     for p in to_confirm(ranked, list(self.spec.search.space), RERANK_TOP)])

    def _refit(self) -> None:
        if len(self.observations) == self._fitted_on:
            return
        recent = self.observations[-FIT_LEVELS:]
        twin = Twin(self.spec)
        # from scratch whenever the levels doubled since the last fit from scratch, else from the last fit
        n = len(self.observations)
        previous = self.calibration if self._scratch_on and n < 2 * self._scratch_on else None
        self.calibration = fit(twin, recent, previous)
        if previous is None:
            self._scratch_on = n
        self.report = calibration_report(twin, recent, self.calibration)
        self._fitted_on = len(self.observations)
        self._predictions.clear()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A guide saved by an older version lacks the fields added since: they start empty."""
        self.__dict__.update({f.name: f.default_factory() for f in fields(self)  # type: ignore[misc]
                              if f.name not in state and f.default_factory is not MISSING})
        self.__dict__.update(state)

    def _space_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k in self.spec.search.space}

    def _engine_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**self.spec.engine.fixed, **self._space_config(config)}


def best_assured(result: dict[str, Any]) -> float:
    """What a finished trial's report makes sure of (0 for one that met no SLO)."""
    from autotuner.trial.objective import assured_score

    if not result.get("feasible"):
        return 0.0
    return assured_score(float(result["score"]), result.get("boundary") or ())


def unlike(point: dict[str, Any], earlier: dict[str, Any], matters: set[str]) -> bool:
    """Whether a proposal differs enough from an earlier one: in :data:`PROPOSAL_DIFFERENCES`
    parameters or more, one of which ``matters`` (when any does). On the long-prompt surface in
    world 2 the calibrated twin's six proposals were all 2+ apart only in knobs that moved none
    of them (memory fraction, running requests, graph size).

    >>> unlike({"tp": 1, "mem": 0.8, "mrr": 8}, {"tp": 1, "mem": 0.9, "mrr": 16}, {"tp", "chunk"})
    False
    >>> unlike({"tp": 1, "mem": 0.8, "chunk": 1024}, {"tp": 1, "mem": 0.9, "chunk": 8192}, {"tp", "chunk"})
    True
    """
    apart = differing(point, earlier)
    return len(apart) >= PROPOSAL_DIFFERENCES and (not matters or bool(apart & matters))


def _moved(a: Calibration, b: Calibration) -> float:
    """The largest relative change of a factor between two calibrations."""
    return max(abs(getattr(b, f) / getattr(a, f) - 1.0) for f in ("decode", "prefill", "cpu_overhead"))


# The class's name in the Tune state of campaigns saved at 4fe9b38 (a searcher's ``_veto``): such a
# campaign resumes with that state unused, and the twin off.
TwinVeto = TwinGuide

__all__ = ["MATTERS", "PROPOSAL_DIFFERENCES", "PROPOSALS", "PROPOSE_SHARE", "RERANK_TOP", "START_CONFIRMED", "START_SAMPLE", "TwinGuide", "TwinStart", "VETO_SHARE",
           "best_assured", "start_count", "twin_start", "unlike"]
