"""Ray Tune trainables: one trial = engine up -> load sweep -> one report per level -> engine down."""

from trainables.engine_trial import EngineTrial

__all__ = ["EngineTrial"]
