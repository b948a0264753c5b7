"""What a trial is asked to do with its config: search its SLO boundary (the search phase), from
the twin's predicted boundary load where it has one, or run again at the boundary load another
trial found (the re-measurement phase).

The directive travels to the trainable inside Tune's config, as one string under one key (Tune
passes it through untouched and never searches over it); the engine parameters stay beside it::

    config = TrialDirective.remeasure("3f2a_00004", {"D(128,32)": 24}, repeats=3).into(engine_args)
    TrialDirective.of_config(config).phase        # Phase.REMEASURE
    TrialDirective.of_config({"tp_size": 1})      # the search (no directive)
    TrialDirective.search_from({"D(128,32)": 40}).into(engine_args)   # the search, from the twin's load
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Mapping


class Phase(StrEnum):
    """The campaign phase a trial belongs to: the search, then the re-measurement of the best configs."""

    SEARCH = "search"
    REMEASURE = "remeasure"


@dataclass(frozen=True)
class TrialDirective:
    """The search (the default), or a re-measurement of trial ``remeasure_of``'s config: ``repeats``
    levels at each scenario's load in ``loads``. For the search, ``loads`` are the twin's predicted
    boundary loads of the config: its load search starts there while no trial met the SLOs yet
    (:func:`autotuner.trial.sweep.plan_for_trial`)."""

    phase: Phase = Phase.SEARCH
    loads: tuple[tuple[str, int], ...] = ()
    repeats: int = 0
    remeasure_of: str | None = None

    KEY: ClassVar[str] = "directive"  # its key in Tune's config
    # How 148968d and earlier wrote a re-measurement into the config (restored trials of their folders).
    _OLD_KEY: ClassVar[str] = "remeasure"
    _OLD_OF_KEY: ClassVar[str] = "remeasure_of"

    @classmethod
    def remeasure(cls, of_trial: str, loads: Mapping[str, int], repeats: int) -> "TrialDirective":
        return cls(Phase.REMEASURE, tuple(sorted(loads.items())), int(repeats), of_trial)

    @classmethod
    def search_from(cls, loads: Mapping[str, int]) -> "TrialDirective":
        return cls(Phase.SEARCH, tuple(sorted(loads.items())))

    @property
    def remeasures(self) -> bool:
        return self.phase == Phase.REMEASURE

    def into(self, engine_args: Mapping[str, Any]) -> dict[str, Any]:
        """Tune's config of a trial: ``engine_args`` plus this directive (the search from nowhere needs none)."""
        if self == TrialDirective():
            return dict(engine_args)
        return {**engine_args, self.KEY: json.dumps({"phase": str(self.phase), "loads": dict(self.loads),
                                                     "repeats": self.repeats, "remeasure_of": self.remeasure_of})}

    @classmethod
    def of_config(cls, config: Mapping[str, Any]) -> "TrialDirective":
        """The directive in a trial's config (the search when there is none)."""
        if cls.KEY in config:
            data = json.loads(config[cls.KEY])
            return cls(Phase(data["phase"]), tuple(sorted(data["loads"].items())), int(data["repeats"]),
                       data.get("remeasure_of"))
        old = config.get(cls._OLD_KEY)
        if old:
            return cls.remeasure(config.get(cls._OLD_OF_KEY), old["loads"], old["repeats"])
        return cls()


__all__ = ["Phase", "TrialDirective"]
