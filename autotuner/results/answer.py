"""The campaign's answer: which configs are measured again, which one is recommended, and where
the numbers come from.

A search trial's score is one measurement at the load its search ended on, and the best of many
noisy measurements is biased upwards: the winner of the search is often the luckiest run, not the
best config. So the best ``remeasure.configs`` configs of the search run again, each for
``remeasure.repeats`` levels at its boundary load; the recommendation is the best mean among those
that met the SLOs in most repeats, and it is shown with its spread::

    configs = remeasure_configs(trials, spec.remeasure)       # the re-measurement trials' configs
    answer = choose(trials)                                    # after they ran
    answer.record.remeasured_mean, answer.search.trial_id
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from autotuner.results.folder import REMEASURE, TrialRecord, pick_best, pick_remeasured
from autotuner.task.space import engine_args
from autotuner.task.spec import RemeasureSpec, TaskSpec
from autotuner.trial.sweep import REMEASURE as REMEASURE_KEY

REMEASURE_OF = "remeasure_of"  # config key naming the search trial a re-measurement measures again


def remeasure_candidates(trials: list[TrialRecord], configs: int) -> list[TrialRecord]:
    """The best ``configs`` feasible search trials with distinct configs and a known boundary."""
    chosen: list[TrialRecord] = []
    seen: set[str] = set()
    ranked = sorted((t for t in trials if t.phase != REMEASURE and t.feasible and t.boundary and t.score is not None),
                    key=lambda t: t.score, reverse=True)
    for trial in ranked:
        key = json.dumps(trial.config, sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen[:configs]


def remeasure_configs(trials: list[TrialRecord], settings: RemeasureSpec) -> list[dict[str, Any]]:
    """The configs of the re-measurement trials (engine parameters plus what to repeat where)."""
    return [{**t.config, REMEASURE_KEY: {"loads": dict(t.boundary), "repeats": settings.repeats},
             REMEASURE_OF: t.trial_id}
            for t in remeasure_candidates(trials, settings.configs)]


@dataclass(frozen=True)
class Answer:
    """The recommended config: ``record`` is the trial whose numbers stand for it (the
    re-measurement trial when there is one), ``search`` the search trial that found it."""

    record: TrialRecord
    search: TrialRecord

    @property
    def remeasured(self) -> bool:
        return self.record.remeasured_mean is not None

    @property
    def value(self) -> float:
        return self.record.remeasured_mean if self.remeasured else float(self.search.score or 0.0)


def choose(trials: list[TrialRecord]) -> Answer | None:
    """The re-measured winner, else (no re-measurement, or none met the SLOs in most repeats) the
    search's best."""
    by_id = {t.trial_id: t for t in trials}
    winner = pick_remeasured(trials)
    if winner is not None and winner.remeasure_of in by_id:
        return Answer(winner, by_id[winner.remeasure_of])
    best = pick_best(trials)
    return Answer(best, best) if best else None


def spread_block(record: TrialRecord) -> dict[str, Any]:
    """The re-measurement of one config, as best_config.json shows it."""
    return {"trial_id": record.trial_id, "of_trial": record.remeasure_of, "config": engine_args(record.config),
            "mean": record.remeasured_mean, "min": record.remeasured_min, "max": record.remeasured_max,
            "stdev": record.remeasured_stdev, "repeats": record.remeasured_repeats,
            "passed": record.remeasured_passed, "loads": record.boundary}


def provenance(spec: TaskSpec) -> dict[str, Any]:
    """Where the answer's numbers come from: engine (or the simulator, said plainly), GPU, model,
    workload, SLOs, tuner version and how the answer was re-measured."""
    from autotuner.sim.version import simulator_version

    engine: dict[str, Any]
    title = spec.engine.engine_flavor.title
    if spec.engine.simulated:
        engine = {"name": "simulator", "simulated": True, "version": simulator_version(),
                  "flavor": spec.engine.flavor, "flavor_version": spec.engine.version,
                  "note": f"a simulated {title} {spec.engine.version} server (autotuner/sim), not {title}: "
                          "numbers are modelled"}
    else:
        command = spec.engine.local.command if spec.engine.backend == "local" else "ome"
        engine = {"name": spec.engine.flavor, "version": spec.engine.version, "simulated": False,
                  "backend": spec.engine.backend, "command": command if isinstance(command, str) else list(command)}
    traffic: dict[str, Any] = {"traffic": spec.workload.traffic()}
    if spec.workload.dataset is not None:  # which prompts, exactly: the file may change later
        try:
            traffic["dataset_sha256"] = hashlib.sha256(Path(spec.workload.dataset.path).read_bytes()).hexdigest()
        except OSError:
            traffic["dataset_sha256"] = None
    return {
        "engine": engine, "gpu": spec.engine.gpu, "model": spec.model.name, **traffic,
        "workload": spec.workload.model_dump(mode="json", exclude_none=True),
        "slo": spec.objective.slo.model_dump(mode="json"), "objective": spec.objective.kind,
        "remeasure": spec.remeasure.model_dump(mode="json"),
        "tuner_version": _tuner_version(),
    }


def _tuner_version() -> str:
    try:
        return metadata.version("sglang-autotuner")
    except metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["Answer", "REMEASURE_OF", "choose", "provenance", "remeasure_candidates", "remeasure_configs",
           "spread_block"]
