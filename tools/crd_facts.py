"""Record the schema facts of the upstream CRDs that the tuner's manifests rely on.

    .venv/bin/python tools/crd_facts.py            # write autotuner/k8s/crd_facts.json
    .venv/bin/python tools/crd_facts.py --check    # exit 1 when the recording no longer matches

The upstream CRD files (OME's InferenceService and BenchmarkJob, KubeRay's RayCluster) are read
from ``$AUTOTUNER_CRD_DIR`` (a folder holding them, at any depth) or else from
``../shared/ome/crds`` and ``../shared/kuberay/crds`` next to the repository. They are not
copied: for each kind the tuner writes, the recording keeps the stored version's
``openAPIV3Schema`` only along the fields the tuner's own manifests use (the rendered
``templates/*.j2`` with every optional part set, and ``ray-cluster.yaml``), with each used
field's types, required lists, enums, patterns and Kubernetes extensions, plus the whole
``status`` the stand-in controller writes and the tuner reads. A declared field the manifests do
not use is kept as the marker ``{"x-autotuner-unrecorded": true}``, so that
``autotuner.k8s.schema`` can tell it from a field the CRD does not declare. Descriptions are
dropped. A manifest field the CRD does not declare stops the recording.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

REPO = Path(__file__).resolve().parents[1]
FACTS_FILE = REPO / "autotuner" / "k8s" / "crd_facts.json"
SHARED_CRD_DIRS = (REPO.parent / "shared" / "ome" / "crds", REPO.parent / "shared" / "kuberay" / "crds")
UNRECORDED = "x-autotuner-unrecorded"
# kind -> (upstream file, version to record, top-level fields recorded whole)
KINDS = {
    "InferenceService": ("ome.io_inferenceservices.yaml", "v1beta1", ("status",)),
    "BenchmarkJob": ("ome.io_benchmarkjobs.yaml", "v1beta1", ("status",)),
    "RayCluster": ("ray.io_rayclusters.yaml", "v1", ()),
}


class UndeclaredField(ValueError):
    """A manifest uses a field the upstream CRD does not declare."""


def git_blob_id(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with ``data`` (the upstream SOURCE.txt lists these)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def without_descriptions(node: Any) -> Any:
    if isinstance(node, list):
        return [without_descriptions(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: without_descriptions(v) for k, v in node.items() if k != "description"}


def reduce_schema(schema: dict[str, Any], values: Sequence[Any], path: str = "") -> dict[str, Any]:
    """``schema`` kept along the fields ``values`` (the manifests' values at this node) use.

    A node no value goes into (a scalar, a map or list of scalars the schema does not describe
    further) is kept whole; an object keeps every declared property, the unused ones as the
    unrecorded marker; raises :class:`UndeclaredField` for a field the schema does not declare.
    """
    objects = [v for v in values if isinstance(v, dict)]
    lists = [v for v in values if isinstance(v, list) and v]
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    items = schema.get("items")
    structured = (objects and (properties or isinstance(additional, dict))) or (lists and isinstance(items, dict))
    if not structured:
        return without_descriptions(schema)
    out = {k: without_descriptions(v) for k, v in schema.items()
           if k not in ("description", "properties", "additionalProperties", "items")}
    if properties is not None:
        out["properties"] = {
            name: (reduce_schema(sub, [o[name] for o in objects if name in o], _join(path, name))
                   if any(name in o for o in objects) else {UNRECORDED: True})
            for name, sub in properties.items()}
    if isinstance(additional, dict):
        extra = [value for o in objects for key, value in o.items() if key not in (properties or {})]
        out["additionalProperties"] = (reduce_schema(additional, extra, f"{path}{{}}") if extra
                                       else {UNRECORDED: True})
    elif additional is not None:
        out["additionalProperties"] = additional
    if not isinstance(additional, dict) and additional is not True and not schema.get(
            "x-kubernetes-preserve-unknown-fields"):
        declared = {*(properties or {}), *(("apiVersion", "kind", "metadata")
                                            if schema.get("x-kubernetes-embedded-resource") else ())}
        undeclared = sorted({key for o in objects for key in o if key not in declared})
        if undeclared:
            raise UndeclaredField(f"{_join(path, undeclared[0])}: not declared by the CRD")
    if isinstance(items, dict):
        out["items"] = reduce_schema(items, [x for v in lists for x in v], f"{path}[]")
    elif items is not None:
        out["items"] = items
    return out


def record_kind(crd: dict[str, Any], version: str, documents: Sequence[dict[str, Any]],
                whole: Sequence[str] = ()) -> dict[str, Any]:
    """A CRD holding only ``version``, its schema reduced to what ``documents`` use (and the
    top-level fields ``whole``, kept entire): the shape ``autotuner.k8s.schema.CrdSchema`` reads."""
    spec = crd["spec"]
    chosen = next((v for v in spec["versions"] if v["name"] == version), None)
    if chosen is None:
        raise KeyError(f"{crd['metadata']['name']} has no version {version!r}")
    schema = chosen["schema"]["openAPIV3Schema"]
    reduced = reduce_schema(schema, documents)
    for name in whole:
        reduced["properties"][name] = without_descriptions(schema["properties"][name])
    kept_version = {k: v for k, v in chosen.items() if k in ("name", "served", "storage", "subresources")}
    return {
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": {"group": spec["group"], "scope": spec["scope"],
                 "names": {"kind": spec["names"]["kind"], "plural": spec["names"]["plural"]},
                 "versions": [{**kept_version, "storage": True, "schema": {"openAPIV3Schema": reduced}}]},
    }


def tuner_manifests() -> dict[str, list[dict[str, Any]]]:
    """The tuner's manifests of each kind, with every optional part of the templates set."""
    sys.path.insert(0, str(REPO))
    from autotuner.bench.ome_benchmarkjob import render_benchmark_job
    from autotuner.bench.request import LevelRequest
    from autotuner.k8s.manifests import render_inference_service

    isvc = render_inference_service(
        name="sweep-t0001", namespace="autotune", campaign_id="sweep", trial_id="t0001", model_name="llama-3-2-1b",
        runtime_name="srt-llama-3-2-1b", engine_flags=["--tp-size", "2"], gpu_count=2, served_model_name="llama",
        command=["python3", "-m", "sglang.launch_server"], extra_args=["--enable-metrics"],
        annotations={"ome.io/autoscalerClass": "external"}, api_key_secret=("llm-api-key", "api-key"))
    job = render_benchmark_job(
        name="sweep-t0001-l1", namespace="autotune", campaign_id="sweep", trial_id="t0001", isvc_name="sweep-t0001",
        request=LevelRequest("D(100,100)", 4, 20), minutes_per_level=1, output_uri="pvc://results/autotuner",
        result_folder="sweep-t0001-l1", gpu_count=2, image="ghcr.io/sgl-project/genai-bench:0.1.132",
        gpu_type="H100", engine_version="v0.5.5")
    ray_cluster = yaml.safe_load((REPO / "ray-cluster.yaml").read_text())
    return {"InferenceService": [isvc], "BenchmarkJob": [job], "RayCluster": [ray_cluster]}


def find_upstream(file_name: str) -> Path:
    override = os.environ.get("AUTOTUNER_CRD_DIR")
    folders = [Path(override)] if override else list(SHARED_CRD_DIRS)
    found = [p for folder in folders for p in sorted(folder.rglob(file_name))]
    if not found:
        raise FileNotFoundError(f"{file_name} not found under {', '.join(map(str, folders))} "
                                "(set AUTOTUNER_CRD_DIR to a folder holding the upstream CRD files)")
    return found[0]


def record_all() -> dict[str, Any]:
    manifests = tuner_manifests()
    kinds = {}
    for kind, (file_name, version, whole) in KINDS.items():
        path = find_upstream(file_name)
        data = path.read_bytes()
        crd = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        kinds[kind] = {"upstream_file": file_name, "git_blob": git_blob_id(data),
                       "crd": record_kind(crd, version, manifests[kind], whole)}
    return {"recorded_by": "tools/crd_facts.py", "kinds": kinds}


def as_text(facts: dict[str, Any]) -> str:
    return json.dumps(facts, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help=f"compare with {FACTS_FILE.relative_to(REPO)} instead of writing it; exit 1 on a difference")
    args = parser.parse_args(argv)
    try:
        text = as_text(record_all())
    except (FileNotFoundError, UndeclaredField) as err:
        print(f"crd_facts: {err}", file=sys.stderr)
        return 2
    if not args.check:
        FACTS_FILE.write_text(text)
        print(f"wrote {FACTS_FILE.relative_to(REPO)} ({len(text)} bytes)")
        return 0
    if FACTS_FILE.is_file() and FACTS_FILE.read_text() == text:
        print(f"{FACTS_FILE.relative_to(REPO)} matches the upstream CRDs")
        return 0
    print(f"{FACTS_FILE.relative_to(REPO)} no longer matches the upstream CRDs and the tuner's manifests: "
          "run .venv/bin/python tools/crd_facts.py and review the diff", file=sys.stderr)
    return 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


if __name__ == "__main__":
    sys.exit(main())
