"""tools/crd_facts.py: what it keeps of a CRD, and that the recording in the package is exactly
what the tuner's manifests use (its match with the upstream files is `tools/crd_facts.py --check`,
run by .ci/run where ../shared is present)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from autotuner.k8s.schema import CRD_FACTS, UNRECORDED, CrdSchema, SchemaProblem
from tests.conftest import REPO


def load_tool():
    """tools/crd_facts.py, imported by path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("crd_facts", REPO / "tools" / "crd_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


crd_facts = load_tool()

TOY_CRD = {
    "metadata": {"name": "widgets.example.io"},
    "spec": {"group": "example.io", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "description": "A widget.", "properties": {
                               "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"},
                               "spec": {"type": "object", "required": ["size"], "properties": {
                                   "size": {"type": "integer", "minimum": 1, "description": "How big."},
                                   "color": {"type": "string", "enum": ["red", "blue"]},
                                   "parts": {"type": "array", "items": {"type": "object", "properties": {
                                       "name": {"type": "string"}, "weight": {"type": "number"}}}},
                                   "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                   "engine": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}
WIDGET = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"},
          "spec": {"size": 2, "parts": [{"name": "a"}], "labels": {"k": "v"}}}


def toy_schema() -> CrdSchema:
    return CrdSchema(crd_facts.record_kind(TOY_CRD, "v1", [WIDGET], whole=("status",)))


def test_the_recording_keeps_the_used_fields_facts_and_marks_the_others():
    recorded = crd_facts.record_kind(TOY_CRD, "v1", [WIDGET])
    spec = recorded["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["size"] and spec["properties"]["size"] == {"type": "integer", "minimum": 1}
    assert spec["properties"]["color"] == spec["properties"]["engine"] == {UNRECORDED: True}
    assert spec["properties"]["parts"]["items"]["properties"] == {"name": {"type": "string"},
                                                                  "weight": {UNRECORDED: True}}
    assert spec["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert "description" not in json.dumps(recorded)


def test_the_recorded_schema_still_catches_wrong_types_and_names_what_it_cannot_judge():
    schema = toy_schema()
    assert schema.validate(WIDGET) == []
    wrong = {**WIDGET, "spec": {**WIDGET["spec"], "size": "2", "parts": [{"name": 3}], "labels": {"k": 1},
                                "colour": "red", "color": "red"}}
    found = {(p.kind, p.path) for p in schema.validate(wrong)}
    assert found == {("invalid", "spec.size"), ("invalid", "spec.parts[0].name"), ("invalid", "spec.labels.k"),
                     ("unknown-field", "spec.colour"), ("unrecorded", "spec.color")}
    missing = {**WIDGET, "spec": {"parts": []}}
    assert schema.validate(missing) == [SchemaProblem("spec.size", "required")]


def test_a_manifest_field_the_crd_does_not_declare_stops_the_recording():
    with pytest.raises(crd_facts.UndeclaredField, match=r"spec.parts\[\].colour: not declared by the CRD"):
        crd_facts.record_kind(TOY_CRD, "v1", [{**WIDGET, "spec": {"size": 1, "parts": [{"colour": "red"}]}}])


def test_the_package_recording_is_exactly_what_the_tuners_manifests_use():
    """Recording the recording again from today's manifests changes nothing: a field the
    templates stopped using would turn into the marker, one they started using would be judged
    'unrecorded' by the validation tests."""
    kinds = json.loads(CRD_FACTS.read_text())["kinds"]
    manifests = crd_facts.tuner_manifests()
    assert set(kinds) == set(crd_facts.KINDS)
    for kind, (_, version, whole) in crd_facts.KINDS.items():
        recorded = kinds[kind]["crd"]
        assert crd_facts.record_kind(recorded, version, manifests[kind], whole) == recorded, kind
        assert CrdSchema(recorded).validate(manifests[kind][0]) == [], kind
