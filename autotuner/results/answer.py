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
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Hashable

from autotuner.results.folder import CampaignFolder
from autotuner.results.records import (BestAnswer, LevelRow, Spread, TrialRecord, TrialStatus, has_valid_score,
                                       host_distorted_levels, pick_best, pick_remeasured)
from autotuner.trial.directive import Phase, TrialDirective
from autotuner.task.spec import RemeasureSpec, TaskSpec


def remeasure_candidates(trials: list[TrialRecord], configs: int,
                         alike: Callable[[dict[str, Any]], Hashable] | None = None) -> list[TrialRecord]:
    """The best ``configs`` search trials with a valid score (never a failed one), distinct configs
    and a known boundary. With ``alike`` (a config's predicted behaviour:
    :func:`autotuner.twin.alike.predicted_behaviour`), configs that behave alike count once: the
    best single measurement of several near-copies is the luckiest, not a better config."""
    chosen: list[TrialRecord] = []
    seen: set[Hashable] = set()
    ranked = sorted((t for t in trials if t.phase != Phase.REMEASURE and has_valid_score(t) and t.boundary),
                    key=lambda t: t.score, reverse=True)
    for trial in ranked:
        if len(chosen) == configs:
            break
        key = alike(trial.config) if alike is not None else json.dumps(trial.config, sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen


def remeasure_configs(trials: list[TrialRecord], settings: RemeasureSpec,
                      alike: Callable[[dict[str, Any]], Hashable] | None = None) -> list[dict[str, Any]]:
    """The Tune configs of the re-measurement trials: engine parameters plus their directive."""
    return [TrialDirective.remeasure(t.trial_id, t.boundary, settings.repeats).into(t.config)
            for t in remeasure_candidates(trials, settings.configs, alike)]


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


def why_no_answer(trials: list[TrialRecord]) -> str:
    """Why a campaign that ran has no config to recommend, from its search trials' statuses."""
    searched = [t for t in trials if t.phase != Phase.REMEASURE]
    if not searched:
        return "no trial ran"
    counts = Counter(str(t.status) for t in searched)
    head = ("every trial failed or was rejected" if set(counts) <= {TrialStatus.FAILED, TrialStatus.REJECTED}
            else "no config met the SLOs at any load")
    return (f"{head} ({len(searched)} trials: {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
            "see each trial's reason, then loosen the SLOs or change the search space")


def write_answer(spec: TaskSpec, campaign_id: str, folder: CampaignFolder, trials: list[TrialRecord],
                 levels: list[LevelRow], unit: str) -> BestAnswer | None:
    """best_config.json (the re-measured answer, its spread and provenance), the launch command
    and the OME manifest; None when no trial met the SLOs."""
    from autotuner.results.best_manifest import write_best_manifest

    answer = choose(trials)
    if answer is None:
        return None
    manifest = write_best_manifest(spec, answer.search.config, folder.path, campaign_id, answer.search.trial_id)
    remeasured = [t for t in trials if t.phase == Phase.REMEASURE]
    best = BestAnswer.of(
        answer.search, levels, launch_command=spec.launch_command(answer.search.config), objective_unit=unit,
        api_key_env=spec.engine.api_key.env if spec.engine.api_key else None,
        score=answer.value, search_score=answer.search.score,
        remeasured=Spread.of(answer.record) if answer.remeasured else None,
        candidates=[Spread.of(t) for t in remeasured],
        answer_note=_answer_note(answer.remeasured, bool(remeasured), spec.remeasure),
        boundary=answer.search.boundary, provenance=provenance(spec), inference_service_manifest=str(manifest),
        engine_notes=spec.behaviour_notes(answer.search.config), host_distorted=host_distorted_levels(levels),
        launch_comment=launch_command_comment(spec))
    folder.write_best(best)
    return best


def _answer_note(remeasured: bool, remeasure_ran: bool, settings: RemeasureSpec) -> str:
    if remeasured:
        return (f"the best mean of the {settings.configs} best configs, each run {settings.repeats} times "
                "at its SLO boundary load")
    if remeasure_ran:
        return "no re-measured config met the SLOs in most repeats: the search's best, measured once"
    if settings.configs:
        return "not re-measured (the campaign ended before): the search's best, measured once"
    return "the search's best, measured once (re-measurement switched off)"


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


def launch_command_comment(spec: TaskSpec) -> str | None:
    """The comment above best_launch_command.txt's command when its numbers come from the simulator."""
    if not spec.engine.simulated:
        return None
    title = spec.engine.engine_flavor.title
    return (f"found on the simulator (autotuner/sim), not on {title}: its numbers are modelled; "
            f"measure this command on {title} before relying on it")


def _tuner_version() -> str:
    try:
        return metadata.version("sglang-autotuner")
    except metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["Answer", "choose", "launch_command_comment", "provenance", "remeasure_candidates", "remeasure_configs",
           "why_no_answer", "write_answer"]
