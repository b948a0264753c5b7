"""The task: what a campaign is asked to do, read and checked before anything starts.

The bottom of the house (above the facts and the engine flavors): the typed spec
(:mod:`~autotuner.task.spec`), its cross-field rules (:mod:`~autotuner.task.rules`) and problems
(:mod:`~autotuner.task.problem`), the search space and its sampling order
(:mod:`~autotuner.task.space`, :mod:`~autotuner.task.space_order`), where relative paths point
(:mod:`~autotuner.task.paths`), untrusted YAML (:mod:`~autotuner.task.safe_yaml`) and the names an
engine's API key goes by (:mod:`~autotuner.flavors.api_key_names`). Nothing here imports Ray,
Kubernetes, a backend, a runner or the simulator.
"""
