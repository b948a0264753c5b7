"""The simulator as a twin of the engine: predictions for a task's whole search space, before and
during a campaign, so that real GPUs go where the prediction is not sure.

* :mod:`autotuner.twin.steady`: the fast path, a steady-state model of a load level built on the
  simulator's step costs and memory plan;
* :mod:`autotuner.twin.predict`: one config's prediction (starts or not and why, SLO boundary load,
  goodput per GPU, trial cost) by the fast path or the discrete-event simulator;
* :mod:`autotuner.twin.grid`: the configs of a space, all of them or a stratified sample;
* :mod:`autotuner.twin.plan`: ``autotuner plan``, the whole space summed up;
* :mod:`autotuner.twin.alike`: which configs behave alike (knobs that do not bind), for the
  re-measurement.

Nothing here imports Ray.
"""
