"""One trial's pure core, shared by the Ray trainable (:mod:`trainables.engine_trial`) and the
benchmarks' replay: the load search (:mod:`~autotuner.trial.loadsearch`), the level plan and its
reports (:mod:`~autotuner.trial.sweep`, :mod:`~autotuner.trial.report`), the score and its bound
(:mod:`~autotuner.trial.objective`) and the checks that reject a config before it is deployed
(:mod:`~autotuner.trial.feasibility`). No Ray, no I/O.
"""
