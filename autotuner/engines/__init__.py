"""Engine backends: how a trial's server comes and goes. See :mod:`autotuner.engines.base`."""
