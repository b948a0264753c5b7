"""Where trials run: the Ray resource their GPU slots are counted in, and whether a cluster can
ever place them. The check runs right after Ray is reached, so that a campaign that would wait
forever for resources that do not exist fails within seconds, saying what to do.

A trial claims tensor x data parallel size (``tp_size * dp_size`` for SGLang) units, on one node, of:

- ``simulated_gpu`` for the simulated engine: a custom resource, because the simulator needs no
  GPU (and on a cluster with GPUs must not take real ones). ``autotuner run`` without a cluster
  declares ``budget.gpus`` of them on the Ray it starts; a cluster declares them on its nodes:
  ``ray start --head --resources='{"simulated_gpu": 8}'``.
- ``GPU`` for a real engine: Ray's GPUs; the engine gets ``CUDA_VISIBLE_DEVICES`` from Ray.
- ``GPU`` for the ``ome`` backend: a logical count on the Ray workers (``num-gpus`` in
  ray-cluster.yaml), the GPUs the tuner may hold through OME.

>>> placement_problem(8, SIMULATED_GPU, [8.0, 2.0], backend="local")
>>> placement_problem(8, "GPU", [4.0], backend="local").startswith("trials of this search space claim up to 8 GPU")
True
"""

from __future__ import annotations

from typing import Sequence

from autotuner.spec import TaskSpec
from autotuner.spec_rules import parameter_values

SIMULATED_GPU = "simulated_gpu"
GPU = "GPU"


def slot_resource(spec: TaskSpec) -> str:
    """The Ray resource a trial's GPU slots are counted in."""
    return SIMULATED_GPU if spec.engine.simulated else GPU


def largest_claim(spec: TaskSpec) -> int | None:
    """The most GPU slots a trial claims (configs needing more than a node or the budget are
    rejected before deployment and claim none); None when the space allows no config."""
    limit = min(spec.engine.gpus_per_node, spec.budget.gpus)
    flavor = spec.engine.engine_flavor
    tps = [v for v in parameter_values(spec, flavor.tp_param) if isinstance(v, int)]
    dps = [v for v in parameter_values(spec, flavor.dp_param) if isinstance(v, int)]
    claims = [tp * dp for tp in tps for dp in dps if tp * dp <= limit]
    return max(claims) if claims else None


def placement_problem(most: int, resource: str, node_slots: Sequence[float], *, backend: str) -> str | None:
    """Why some trials, claiming up to ``most`` units of ``resource`` on one node, can never run on
    nodes offering ``node_slots`` of it, with what to do; None when all can."""
    largest = int(max(node_slots, default=0))
    if largest >= most:
        return None
    if largest == 0:
        return _no_resource(resource, backend)
    return (f"trials of this search space claim up to {most} {resource} on one node (tensor x data parallel size), but the "
            f"largest node of the Ray cluster has {largest}: set engine.gpus_per_node to {largest} (larger configs "
            f"are then rejected before deployment), or add a node with {most}")


def _no_resource(resource: str, backend: str) -> str:
    if resource == SIMULATED_GPU:
        return ("no node of the Ray cluster offers the 'simulated_gpu' resource that simulated trials claim "
                "(tensor x data parallel size units each; no real GPU is used): start the cluster with "
                "`ray start --head --resources='{\"simulated_gpu\": 8}'` (KubeRay: rayStartParams.resources), "
                "or run `autotuner run` without RAY_ADDRESS "
                "to use a local Ray of its own")
    if backend == "ome":
        return ("no node of the Ray cluster declares GPU slots, which trials of the ome backend claim: give the "
                "trials worker group a logical GPU count (rayStartParams num-gpus in ray-cluster.yaml, see "
                "docs/kubernetes.md)")
    return ("no node of the Ray cluster has GPUs, and each trial of a real engine needs tensor x data parallel size of them on "
            "one node: run on nodes with GPUs, or try the tuner on the simulator (engine.local.command: simulator)")


def check_cluster(spec: TaskSpec) -> str | None:
    """:func:`placement_problem` for the connected Ray cluster's live nodes."""
    import ray

    most = largest_claim(spec)
    if most is None:
        return None  # every config is rejected before deployment: nothing claims a slot
    resource = slot_resource(spec)
    slots = [float(node["Resources"].get(resource, 0)) for node in ray.nodes() if node.get("Alive")]
    return placement_problem(most, resource, slots, backend=spec.engine.backend)


__all__ = ["GPU", "SIMULATED_GPU", "check_cluster", "largest_claim", "placement_problem", "slot_resource"]
