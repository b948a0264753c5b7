"""SGLang autotuner: find the engine parameters with the most goodput per GPU under latency SLOs.

The package is layered bottom-up: ``spec`` (the task), ``space`` (engine parameters and the search
space), ``objective`` (how a trial is scored), ``engines`` (how a server comes and goes), ``bench``
(how load is generated and parsed), ``sim`` (the simulated SGLang engine), ``results`` (Parquet and
the best config), ``campaign`` (Ray Tune) and ``cli``. Nothing here imports ``serve_app``.
"""

__version__ = "0.1.0"
