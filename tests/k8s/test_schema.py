"""CRD schema validation the way the API server does it, against the real OME and KubeRay CRDs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from autotuner.k8s.schema import (
    CrdSchema,
    SchemaProblem,
    kuberay_crd,
    ome_crd,
    shared_dir,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = shared_dir() / "ome" / "examples"


def example_documents() -> list[dict]:
    return [doc for path in sorted(EXAMPLES.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def isvc_example() -> dict:
    return copy.deepcopy(example_documents()[-2])  # first InferenceService of isvc-sglang-args-override.yaml


def bench_example() -> dict:
    return copy.deepcopy(example_documents()[0])


# Named, not globbed: a glob over a missing ../shared would make an empty (skipped) parameter list.
@pytest.mark.parametrize("name", ["benchmarkjob-for-isvc.yaml", "clusterservingruntime-sglang-tuner.yaml",
                                  "isvc-sglang-args-override.yaml"])
def test_upstream_examples_are_accepted(name):
    docs = list(yaml.safe_load_all((EXAMPLES / name).read_text()))
    assert docs
    for doc in docs:
        assert ome_crd(doc["kind"]).validate(doc) == [], f"{doc['kind']} {doc['metadata']['name']}"


def problems_of(doc: dict) -> list[tuple[str, str]]:
    return [(p.kind, p.path) for p in ome_crd(doc["kind"]).validate(doc)]


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["metadata"]["labels"].update({"autotune/trial": 1}), ("decode", "metadata.labels[autotune/trial]")),
    (lambda d: d["spec"]["runtime"].update(runtimeParameters={"tp": "2"}),
     ("unknown-field", "spec.runtime.runtimeParameters")),
    (lambda d: d["spec"]["engine"].update(resources={"limits": {}}), ("unknown-field", "spec.engine.resources")),
    (lambda d: d["spec"]["engine"]["runner"]["args"].append(0.85), ("invalid", "spec.engine.runner.args[12]")),
    (lambda d: d["spec"]["model"].pop("name"), ("invalid", "spec.model.name")),
    (lambda d: d["spec"]["engine"].update(minReplicas="1"), ("invalid", "spec.engine.minReplicas")),
    (lambda d: d["spec"]["engine"]["runner"]["resources"]["limits"].update(cpu=[4]),
     ("invalid", "spec.engine.runner.resources.limits.cpu")),
    (lambda d: d["metadata"].update(name="Not_A_Name"), ("invalid", "metadata.name")),
    (lambda d: d.update(apiVersion="ome.io/v1"), ("invalid", "apiVersion/kind")),
])
def test_broken_inference_services_are_rejected_at_the_field(breakage, expected):
    doc = isvc_example()
    breakage(doc)
    assert expected in problems_of(doc)


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["spec"].pop("maxTimePerIteration"), ("invalid", "spec.maxTimePerIteration")),
    (lambda d: d["spec"]["serviceMetadata"].update(gpuType="H200"), ("invalid", "spec.serviceMetadata.gpuType")),
    (lambda d: d["spec"].update(task="chat"), ("invalid", "spec.task")),
    (lambda d: d["spec"]["endpoint"].update(endpoint={"url": "host:8080", "apiFormat": "openai"}),
     ("invalid", "spec.endpoint.endpoint.url")),
])
def test_broken_benchmark_jobs_are_rejected_at_the_field(breakage, expected):
    doc = bench_example()
    breakage(doc)
    assert expected in problems_of(doc)


def test_messages_are_clear():
    doc = isvc_example()
    doc["metadata"]["labels"]["tries"] = 3
    doc["spec"]["runtime"]["runtimeParameters"] = {}
    doc["spec"]["model"].pop("name")
    text = [str(p) for p in ome_crd("InferenceService").validate(doc)]
    assert "metadata.labels[tries]: must be a string, not int 3 (quote it)" in text
    assert "spec.model.name: required" in text
    assert any(t.startswith("spec.runtime.runtimeParameters: unknown field") for t in text)


def test_status_preserves_unknown_fields_and_int_or_string_takes_both():
    doc = isvc_example()
    doc["status"] = {"anything": {"the": "controller writes"}, "conditions": []}
    doc["spec"]["engine"]["runner"]["resources"]["limits"]["cpu"] = 4
    doc["spec"]["engine"]["runner"]["resources"]["requests"]["cpu"] = "4"
    assert ome_crd("InferenceService").validate(doc) == []


def test_prune_drops_only_unknown_fields():
    doc = isvc_example()
    doc["spec"]["runtime"]["runtimeParameters"] = {"x": "1"}
    doc["spec"]["engine"]["resources"] = {}
    pruned = ome_crd("InferenceService").prune(doc)
    assert pruned == isvc_example()


def test_embedded_resources_need_api_version_and_kind():
    crd = CrdSchema({
        "metadata": {"name": "things.example.io"},
        "spec": {"group": "example.io", "scope": "Namespaced", "names": {"kind": "Thing", "plural": "things"},
                 "versions": [{"name": "v1", "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {
                         "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                         "spec": {"type": "object", "properties": {"template": {
                             "type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True}}}}}}}]},
    })
    thing = {"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"},
             "spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}}
    assert crd.validate(thing) == []
    del thing["spec"]["template"]["kind"]
    assert crd.validate(thing) == [SchemaProblem("spec.template.kind", "required")]


def test_ray_cluster_manifest_validates_against_the_kuberay_crd():
    doc = yaml.safe_load((REPO / "ray-cluster.yaml").read_text())
    assert kuberay_crd("RayCluster").validate(doc) == []
    workers = doc["spec"]["workerGroupSpecs"]
    assert len(workers) == 1 and int(workers[0]["rayStartParams"]["num-gpus"]) > 0  # the GPU slots
    assert json.loads(json.loads(workers[0]["rayStartParams"]["resources"]))["simulated_gpu"] > 0  # KubeRay's quoting
    assert doc["spec"]["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    pods = [doc["spec"]["headGroupSpec"]["template"], workers[0]["template"]]
    assert all(p["spec"]["serviceAccountName"] == "autotuner" for p in pods)
    head_ports = {p["containerPort"] for p in pods[0]["spec"]["containers"][0]["ports"]}
    assert {8265, 8000} <= head_ports


def test_ray_cluster_schema_catches_unquoted_start_params():
    doc = yaml.safe_load((REPO / "ray-cluster.yaml").read_text())
    doc["spec"]["workerGroupSpecs"][0]["rayStartParams"]["num-gpus"] = 8
    assert [p.path for p in kuberay_crd("RayCluster").validate(doc)] == ["spec.workerGroupSpecs[0].rayStartParams.num-gpus"]
