"""One load level to run: a traffic scenario at a concurrency, with its request cap and, with
early stopping, the p90 limits whose proven breach ends it (:mod:`autotuner.bench.fail_fast`)."""

from __future__ import annotations

from dataclasses import dataclass

from autotuner.bench.fail_fast import FailFast


@dataclass(frozen=True)
class LevelRequest:
    """One level to run: a scenario at a concurrency, with its request cap."""

    scenario: str
    concurrency: int
    max_requests: int
    note: str = ""  # why this load: "start", "grow", "narrow 16-32", "repeat 2/3"
    fail_fast: FailFast | None = None  # end the level once it provably breaks these p90 limits


__all__ = ["LevelRequest"]
