"""Twin-guided search (``search.prior: twin``): the campaign starts from the twin's ranking and does
not deploy what the twin is sure cannot compete.

* :func:`twin_start`: before the first trial, the twin screens the space (a smaller sample than
  ``autotuner plan``'s, so the campaign starts within seconds), confirms its head with the
  discrete-event simulator and returns its best configs, diversified (each differs from the ones
  before it in two parameters or more), to be tried right after the task's ``initial_configs``;
* :class:`TwinVeto`: when the sampler proposes a config, the twin predicts it (fast path); if that
  prediction, scaled by how the twin has compared with the trials measured so far (the median of
  measured / predicted goodput), is below :data:`VETO_SHARE` of what the best trial is sure of,
  the config is not deployed and the sampler is told the prediction instead. The margin is wide
  on purpose: the twin's step times were 0.55-0.99 of real ones, so only configs the twin puts
  far behind are skipped; a config it predicts cannot start is deployed anyway (the engine decides).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from autotuner.sim.version import simulator_version
from autotuner.task.space import SearchSpace
from autotuner.task.spec import TaskSpec
from autotuner.twin.grid import config_key, configs_to_screen
from autotuner.twin.plan import diversified, rank
from autotuner.twin.predict import ConfigPrediction, Model, Outcome, Twin

START_SAMPLE = 1000  # configs the campaign's twin screens before the first trial
START_CONFIRMED = 8  # of them, the best confirmed by the discrete-event simulator
VETO_SHARE = 0.5  # not deployed: predicted (calibrated) below this share of the best trial's assured score


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
    """Decides, per proposed config, whether the twin is sure enough it cannot compete."""

    spec: TaskSpec
    share: float = VETO_SHARE
    protected: frozenset[str] = frozenset()  # config keys never vetoed (the configs enqueued first)
    ratios: list[float] = field(default_factory=list)  # measured / predicted goodput of the trials so far
    vetoed: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (config, why)
    _predictions: dict[str, ConfigPrediction] = field(default_factory=dict)
    _twin: Twin | None = None

    def predict(self, config: dict[str, Any]) -> ConfigPrediction:
        key = config_key(self._engine_config(config))
        if key not in self._predictions:
            if self._twin is None:
                self._twin = Twin(self.spec)
            self._predictions[key] = self._twin.predict(self._engine_config(config), Model.STEADY)
        return self._predictions[key]

    def scale(self) -> float:
        """The calibration so far: median of measured over predicted goodput (1 before any trial)."""
        return statistics.median(self.ratios) if self.ratios else 1.0

    def observe(self, config: dict[str, Any], result: dict[str, Any]) -> None:
        """A trial ended: learn how far the twin was from its measured score."""
        predicted = self.predict(config)
        if result.get("feasible") and result.get("status") == "done" and predicted.score > 0:
            self.ratios.append(float(result["score"]) / predicted.score)

    def verdict(self, config: dict[str, Any], best_assured: float) -> tuple[float, float] | None:
        """(value, constraint) to tell the sampler instead of deploying ``config``, or None to deploy it."""
        if best_assured <= 0 or config_key(self._space_config(config)) in self.protected:
            return None
        p = self.predict(config)
        if p.outcome in (Outcome.REJECTED, Outcome.STARTUP_FAILED):
            return None  # the pre-deployment checks and the engine decide those, not the twin
        value = p.score * self.scale()
        if value >= self.share * best_assured:
            return None
        self.vetoed.append((self._engine_config(config), f"predicted {value:.0f} < {self.share:.0%} of {best_assured:.0f}"))
        return (value, 0.0) if p.outcome is Outcome.OK else (0.0, 1.0)

    def _space_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k in self.spec.search.space}

    def _engine_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**self.spec.engine.fixed, **self._space_config(config)}


def best_assured(result: dict[str, Any]) -> float:
    """What a finished trial's report makes sure of (0 for one that met no SLO)."""
    from autotuner.stopping.bound import assured_score  # imports Ray: only the searcher asks

    if not result.get("feasible"):
        return 0.0
    return assured_score(float(result["score"]), result.get("boundary") or ())


__all__ = ["START_CONFIRMED", "START_SAMPLE", "TwinStart", "TwinVeto", "VETO_SHARE", "best_assured", "start_count",
           "twin_start"]
