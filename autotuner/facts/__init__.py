"""Model and GPU facts, and the fit rules written once over them (see :mod:`autotuner.facts.fit`)."""
