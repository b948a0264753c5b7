"""CRD schema validation the way the API server does it, against the recorded OME and KubeRay CRD
facts (autotuner/k8s/crd_facts.json), on the manifests the tuner renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autotuner.bench.ome_benchmarkjob import render_benchmark_job
from autotuner.bench.request import LevelRequest
from autotuner.k8s.manifests import render_inference_service
from autotuner.k8s.schema import CrdSchema, SchemaProblem, recorded_crd

REPO = Path(__file__).resolve().parents[2]


def isvc() -> dict:
    return render_inference_service(
        name="sweep-t0001", namespace="autotune", campaign_id="sweep", trial_id="t0001", model_name="llama-3-2-1b",
        runtime_name="srt-llama-3-2-1b", engine_flags=["--tp-size", "2", "--mem-fraction-static", "0.85"],
        gpu_count=2, served_model_name="llama", api_key_secret=("llm-api-key", "api-key"))


def bench_job() -> dict:
    return render_benchmark_job(
        name="sweep-t0001-l1", namespace="autotune", campaign_id="sweep", trial_id="t0001", isvc_name="sweep-t0001",
        request=LevelRequest("D(100,100)", 4, 20), minutes_per_level=1, output_uri="pvc://results/autotuner",
        result_folder="sweep-t0001-l1", gpu_count=2, gpu_type="H100", engine_version="v0.5.5")


def test_rendered_manifests_are_accepted():
    assert recorded_crd("InferenceService").validate(isvc()) == []
    assert recorded_crd("BenchmarkJob").validate(bench_job()) == []


def problems_of(doc: dict) -> list[tuple[str, str]]:
    return [(p.kind, p.path) for p in recorded_crd(doc["kind"]).validate(doc)]


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["metadata"]["labels"].update({"autotune/trial": 1}), ("decode", "metadata.labels[autotune/trial]")),
    (lambda d: d["spec"]["runtime"].update(runtimeParameters={"tp": "2"}),
     ("unknown-field", "spec.runtime.runtimeParameters")),
    (lambda d: d["spec"]["engine"].update(resources={"limits": {}}), ("unknown-field", "spec.engine.resources")),
    (lambda d: d["spec"]["engine"]["runner"]["args"].append(0.85), ("invalid", "spec.engine.runner.args[8]")),
    (lambda d: d["spec"]["engine"]["runner"]["env"][0].pop("name"), ("invalid", "spec.engine.runner.env[0].name")),
    (lambda d: d["spec"]["model"].pop("name"), ("invalid", "spec.model.name")),
    (lambda d: d["spec"]["engine"].update(minReplicas="1"), ("invalid", "spec.engine.minReplicas")),
    (lambda d: d["spec"]["engine"]["runner"]["resources"]["limits"].update(cpu=[4]),
     ("invalid", "spec.engine.runner.resources.limits.cpu")),
    (lambda d: d["metadata"].update(name="Not_A_Name"), ("invalid", "metadata.name")),
    (lambda d: d.update(apiVersion="ome.io/v1"), ("invalid", "apiVersion/kind")),
    # declared by OME, but the tuner never sets it: the recording cannot judge it and says so
    (lambda d: d["spec"]["engine"]["runner"].update(image="sglang:latest"),
     ("unrecorded", "spec.engine.runner.image")),
])
def test_broken_inference_services_are_rejected_at_the_field(breakage, expected):
    doc = isvc()
    breakage(doc)
    assert expected in problems_of(doc)


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["spec"].pop("maxTimePerIteration"), ("invalid", "spec.maxTimePerIteration")),
    (lambda d: d["spec"]["serviceMetadata"].update(gpuType="H200"), ("invalid", "spec.serviceMetadata.gpuType")),
    (lambda d: d["spec"]["serviceMetadata"].update(engine="sglang"), ("invalid", "spec.serviceMetadata.engine")),
    (lambda d: d["spec"].update(task="chat"), ("invalid", "spec.task")),
    (lambda d: d["spec"].update(numConcurrency=["4"]), ("invalid", "spec.numConcurrency[0]")),
    (lambda d: d["spec"]["outputLocation"].pop("storageUri"), ("invalid", "spec.outputLocation.storageUri")),
    (lambda d: d["spec"]["endpoint"]["inferenceService"].update(port=8080),
     ("unknown-field", "spec.endpoint.inferenceService.port")),
])
def test_broken_benchmark_jobs_are_rejected_at_the_field(breakage, expected):
    doc = bench_job()
    breakage(doc)
    assert expected in problems_of(doc)


def test_messages_are_clear():
    doc = isvc()
    doc["metadata"]["labels"]["tries"] = 3
    doc["spec"]["runtime"]["runtimeParameters"] = {}
    doc["spec"]["model"].pop("name")
    doc["spec"]["engine"]["runner"]["image"] = "sglang:latest"
    text = [str(p) for p in recorded_crd("InferenceService").validate(doc)]
    assert "metadata.labels[tries]: must be a string, not int 3 (quote it)" in text
    assert "spec.model.name: required" in text
    assert any(t.startswith("spec.runtime.runtimeParameters: unknown field") for t in text)
    assert ("spec.engine.runner.image: declared by the CRD but not recorded in crd_facts.json (the tuner's "
            "manifests do not use it): run tools/crd_facts.py to record it") in text


def test_status_preserves_unknown_fields_and_int_or_string_takes_both():
    doc = isvc()
    doc["status"] = {"anything": {"the": "controller writes"}, "conditions": []}
    doc["spec"]["engine"]["runner"]["resources"]["limits"]["cpu"] = 4
    doc["spec"]["engine"]["runner"]["resources"]["requests"]["cpu"] = "4"
    assert recorded_crd("InferenceService").validate(doc) == []


def test_prune_drops_only_unknown_fields():
    doc = isvc()
    doc["spec"]["runtime"]["runtimeParameters"] = {"x": "1"}
    doc["spec"]["engine"]["resources"] = {}
    doc["spec"]["engine"]["runner"]["image"] = "sglang:latest"  # declared: kept
    pruned = recorded_crd("InferenceService").prune(doc)
    assert pruned == {**isvc(), "spec": {**isvc()["spec"], "engine": {**isvc()["spec"]["engine"], "runner": {
        **isvc()["spec"]["engine"]["runner"], "image": "sglang:latest"}}}}


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
    assert recorded_crd("RayCluster").validate(doc) == []
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
    assert [p.path for p in recorded_crd("RayCluster").validate(doc)] == ["spec.workerGroupSpecs[0].rayStartParams.num-gpus"]
