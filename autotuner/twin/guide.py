"""Twin-guided search (``search.prior: twin``): the campaign starts from the twin's ranking and does
not deploy what the twin is sure cannot compete.

* :func:`twin_start`: before the first trial, the twin screens the space (a smaller sample than
  ``autotuner plan``'s, so the campaign starts within seconds), confirms its head with the
  discrete-event simulator and returns its best configs, diversified (each differs from the ones
  before it in two parameters or more), to be tried right after the task's ``initial_configs``;
* :class:`TwinVeto`: when the sampler proposes a config, the twin predicts it (fast path, its step
  times fitted to every level measured so far: :mod:`autotuner.twin.calibrate`); if that
  prediction is below :data:`VETO_SHARE` of what the best trial is sure of, the config is not
  deployed and the sampler is told the prediction instead. The margin is wide
  on purpose: the twin's step times were 0.55-0.99 of real ones, so only configs the twin puts
  far behind are skipped; a config it predicts cannot start is deployed anyway (the engine decides).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from autotuner.sim.version import simulator_version
from autotuner.task.space import SearchSpace, describe_config
from autotuner.task.spec import TaskSpec
from autotuner.bench.result import LevelResult
from autotuner.twin.calibrate import CalibrationReport, Observation, calibration_report, fit, usable
from autotuner.twin.grid import config_key, configs_to_screen
from autotuner.twin.plan import diversified, rank
from autotuner.twin.predict import ConfigPrediction, Model, Outcome, Twin
from autotuner.twin.steady import Calibration

START_SAMPLE = 1000  # configs the campaign's twin screens before the first trial
START_CONFIRMED = 8  # of them, the best confirmed by the discrete-event simulator
VETO_SHARE = 0.5  # not deployed: predicted (calibrated) below this share of the best trial's assured score
FIT_LEVELS = 40  # the calibration fits the most recent this many measured levels (a fit takes ~0.1 s per 10)


@dataclass(frozen=True)
class TwinStart:
    """What the twin gives a campaign before its first trial."""

    points: tuple[dict[str, Any], ...]  # search-space values of the configs to try first, best first
    predictions: tuple[ConfigPrediction, ...]  # the simulator's prediction of each
    screened: int
    compute_s: float

    def line(self) -> str:
        """The progress line that says the campaign uses the twin."""
        best = self.predictions[0] if self.predictions else None
        head = (f"; its best predicted {best.score:.0f} output tok/s per GPU" if best else "")
        return (f"twin: simulator {simulator_version()} screened {self.screened} configs in {self.compute_s:.1f} s; "
                f"its {len(self.points)} best (diversified) run first{head}; "
                f"configs it predicts below {VETO_SHARE:.0%} of the best trial are not deployed (search.prior: none turns this off)")


def start_count(spec: TaskSpec) -> int:
    """How many of the twin's configs a campaign tries first: a round of its GPU slots, at most a
    quarter of the trial budget."""
    return max(1, min(spec.budget.gpus, spec.budget.trials // 4))


def twin_start(spec: TaskSpec, count: int | None = None, sample: int = START_SAMPLE) -> TwinStart:
    """The twin's best configs for ``spec``, diversified, minus the task's own initial configs."""
    t0 = time.monotonic()
    twin = Twin(spec)
    configs, _ = configs_to_screen(SearchSpace.from_spec(spec), sample, spec.seed)
    screened = [twin.predict(c, Model.STEADY) for c in configs]
    head = rank(screened)[:START_CONFIRMED]
    confirmed = rank([twin.predict(p.config, Model.SIMULATOR) for p in head])
    names = set(spec.search.space)
    initial = {config_key({k: v for k, v in c.items() if k in names}) for c in spec.search.initial_configs}
    chosen = [p for p in diversified(confirmed, len(confirmed))
              if config_key({k: v for k, v in p.config.items() if k in names}) not in initial]
    chosen = chosen[:start_count(spec) if count is None else count]
    return TwinStart(points=tuple({k: v for k, v in p.config.items() if k in names} for p in chosen),
                     predictions=tuple(chosen), screened=len(screened), compute_s=time.monotonic() - t0)


@dataclass
class TwinVeto:
    """Decides, per proposed config, whether the twin is sure enough it cannot compete; calibrates
    the twin from every level the trials measure (:mod:`autotuner.twin.calibrate`)."""

    spec: TaskSpec
    share: float = VETO_SHARE
    protected: frozenset[str] = frozenset()  # config keys never vetoed (the configs enqueued first)
    observations: list[Observation] = field(default_factory=list)  # (engine parameters, measured level)
    vetoed: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (config, why)
    calibration: Calibration = field(default_factory=Calibration)
    report: CalibrationReport | None = None  # how far the twin was before / after the last fit
    announce: Callable[[str], None] | None = None  # gets a line per config not deployed
    _fitted_on: int = 0
    _predictions: dict[str, ConfigPrediction] = field(default_factory=dict)

    def predict(self, config: dict[str, Any]) -> ConfigPrediction:
        """The calibrated fast path's prediction (refitted first when levels came in since)."""
        self._refit()
        key = config_key(self._engine_config(config))
        if key not in self._predictions:
            twin = Twin(self.spec, self.calibration)
            self._predictions[key] = twin.predict(self._engine_config(config), Model.STEADY)
        return self._predictions[key]

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

    def _refit(self) -> None:
        if len(self.observations) == self._fitted_on:
            return
        recent = self.observations[-FIT_LEVELS:]
        twin = Twin(self.spec)
        self.calibration = fit(twin, recent)
        self.report = calibration_report(twin, recent, self.calibration)
        self._fitted_on = len(self.observations)
        self._predictions.clear()

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


__all__ = ["START_CONFIRMED", "START_SAMPLE", "TwinStart", "TwinVeto", "VETO_SHARE", "best_assured", "start_count",
           "twin_start"]
