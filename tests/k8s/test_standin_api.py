"""The stand-in API server speaks Kubernetes to the real client: status codes and Status bodies,
resourceVersions, selectors, watch streams, the status subresource."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from autotuner.k8s.api import KubeError, NamespacedApi, make_api_client
from autotuner.k8s.manifests import render_inference_service
from tests.k8s.conftest import NAMESPACE


@pytest.fixture
def api(kubeconfig) -> NamespacedApi:
    return NamespacedApi(make_api_client(str(kubeconfig)), NAMESPACE)


def isvc(name: str = "sweep-t0001", trial: str = "t0001") -> dict:
    return render_inference_service(name=name, namespace=NAMESPACE, campaign_id="sweep", trial_id=trial,
                                    model_name="m", runtime_name="r", engine_flags=["--tp-size", "1"], gpu_count=1,
                                    served_model_name="m")


def status_of(err: KubeError) -> dict:
    assert isinstance(err.__cause__, ApiException)
    return json.loads(err.__cause__.body)


def test_create_get_delete_with_real_status_codes(api, apiserver):
    created = api.create("inferenceservices", isvc())
    assert created["metadata"]["uid"] and created["metadata"]["namespace"] == NAMESPACE
    assert "status" not in created  # only the /status subresource writes status
    with pytest.raises(KubeError) as conflict:
        api.create("inferenceservices", isvc())
    assert conflict.value.status == 409 and status_of(conflict.value)["reason"] == "AlreadyExists"
    assert api.get("inferenceservices", "sweep-t0001")["metadata"]["name"] == "sweep-t0001"
    assert api.delete("inferenceservices", "sweep-t0001") is True
    assert api.get("inferenceservices", "sweep-t0001") is None
    assert api.delete("inferenceservices", "sweep-t0001") is False
    assert [r.code for r in apiserver.requests] == [201, 409, 200, 200, 404, 404]


def test_schema_violations_are_422_with_causes_and_unknown_fields_400_under_strict(api):
    bad = isvc()
    bad["spec"]["engine"]["minReplicas"] = "one"
    with pytest.raises(KubeError) as invalid:
        api.create("inferenceservices", bad)
    status = status_of(invalid.value)
    assert invalid.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.engine.minReplicas"

    unknown = isvc()
    unknown["spec"]["runtime"]["runtimeParameters"] = {"tp": "2"}
    with pytest.raises(KubeError, match='HTTP 400: strict decoding error: unknown field "spec.runtime.runtimeParameters"'):
        api.create("inferenceservices", unknown)

    numeric_label = isvc()
    numeric_label["metadata"]["labels"]["tries"] = 3
    with pytest.raises(KubeError, match="HTTP 400: .*metadata.labels\\[tries\\]: must be a string"):
        api.create("inferenceservices", numeric_label)


def test_without_strict_validation_unknown_fields_are_pruned(kubeconfig):
    custom = client.CustomObjectsApi(make_api_client(str(kubeconfig)))
    body = isvc()
    body["spec"]["runtime"]["runtimeParameters"] = {"tp": "2"}
    created = custom.create_namespaced_custom_object("ome.io", "v1beta1", NAMESPACE, "inferenceservices", body)
    assert created["spec"]["runtime"] == {"name": "r"}


def test_resource_versions_increase_and_selectors_filter(api, apiserver):
    first = api.create("inferenceservices", isvc("sweep-t1", "t1"))
    second = api.create("inferenceservices", isvc("sweep-t2", "t2"))
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert [o["metadata"]["name"] for o in api.list("inferenceservices", "autotuner.io/trial=t2")] == ["sweep-t2"]
    assert len(api.list("inferenceservices", "autotuner.io/campaign=sweep,autotuner.io/trial in (t1,t2)")) == 2
    assert api.list("inferenceservices", "autotuner.io/campaign!=sweep") == []


def test_watch_streams_changes_after_a_resource_version(kubeconfig, apiserver):
    custom = client.CustomObjectsApi(make_api_client(str(kubeconfig)))
    created = custom.create_namespaced_custom_object("ome.io", "v1beta1", NAMESPACE, "inferenceservices", isvc())
    apiserver.store.update("inferenceservices", NAMESPACE, "sweep-t0001",
                           lambda o: o.__setitem__("status", {"conditions": [{"type": "Ready", "status": "True"}]}))
    apiserver.store.delete("inferenceservices", NAMESPACE, "sweep-t0001")
    events = [(e["type"], e["raw_object"]["metadata"]["resourceVersion"]) for e in watch.Watch().stream(
        custom.list_namespaced_custom_object, "ome.io", "v1beta1", NAMESPACE, "inferenceservices",
        field_selector="metadata.name=sweep-t0001", resource_version=created["metadata"]["resourceVersion"],
        timeout_seconds=1)]
    rv = int(created["metadata"]["resourceVersion"])
    assert events == [("MODIFIED", str(rv + 1)), ("DELETED", str(rv + 2))]


def test_status_subresource_merge_patch(kubeconfig, api):
    custom = client.CustomObjectsApi(make_api_client(str(kubeconfig)))
    api.create("inferenceservices", isvc())
    patched = custom.patch_namespaced_custom_object_status(
        "ome.io", "v1beta1", NAMESPACE, "inferenceservices", "sweep-t0001", {"status": {"url": "http://x"}})
    assert patched["status"] == {"url": "http://x"}
    patched = custom.patch_namespaced_custom_object(
        "ome.io", "v1beta1", NAMESPACE, "inferenceservices", "sweep-t0001",
        {"metadata": {"labels": {"extra": "yes"}}, "status": {"url": "ignored"}})
    assert patched["metadata"]["labels"]["extra"] == "yes" and patched["status"] == {"url": "http://x"}


def test_finalizers_hold_deletion_until_removed(api, apiserver):
    api.create("inferenceservices", isvc())
    apiserver.store.update("inferenceservices", NAMESPACE, "sweep-t0001",
                           lambda o: o["metadata"].__setitem__("finalizers", ["inferenceservice.finalizers"]))
    api.delete("inferenceservices", "sweep-t0001")
    assert api.get("inferenceservices", "sweep-t0001")["metadata"]["deletionTimestamp"]
    apiserver.store.update("inferenceservices", NAMESPACE, "sweep-t0001",
                           lambda o: o["metadata"].__setitem__("finalizers", []))
    assert api.get("inferenceservices", "sweep-t0001") is None
