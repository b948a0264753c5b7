"""The discrete search space of a task as an explicit list of configs (:mod:`autotuner.twin.grid`,
which the twin screens too).

The benchmarks need every config the search could propose (to evaluate them all) and the order a
hand-written sweep would take them: nested loops, the first listed parameter outermost. A
parameter with ``when`` only gets a loop where its condition holds, exactly as the define-by-run
:class:`~autotuner.task.space.SearchSpace` only samples it there.

>>> from autotuner.task.spec import ParamSpace
>>> param_values("mem_fraction_static", ParamSpace(low=0.8, high=0.9, step=0.05), is_int=False)
[0.8, 0.85, 0.9]
"""

from autotuner.twin.grid import MAX_CONFIGS, MAX_VALUES, NotDiscrete, config_key, grid_configs, param_values

__all__ = ["MAX_CONFIGS", "MAX_VALUES", "NotDiscrete", "config_key", "grid_configs", "param_values"]
