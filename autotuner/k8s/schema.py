"""Check an object against a CRD's openAPIV3Schema the way the Kubernetes API server does.

Three kinds of problem as the API server reports them, and one this recording adds:

* ``invalid`` (422): types, enums, patterns, ``required``, int-or-string, embedded resources,
  label/annotation rules on ``metadata`` -- checked with ``jsonschema`` (Draft 4, the dialect of
  OpenAPI v3.0) after mapping Kubernetes' ``nullable`` onto JSON types;
* ``unknown-field``: a field the structural schema does not declare. The API server prunes it
  silently, or rejects it (400) under ``fieldValidation=Strict``; ``x-kubernetes-preserve-
  unknown-fields`` is honoured. :meth:`CrdSchema.prune` returns the pruned copy;
* ``decode`` (400): a value the server cannot even decode into ``ObjectMeta`` (a numeric label);
* ``unrecorded``: a field the CRD declares but the recording (below) does not describe, so it
  cannot be judged here.

Not checked: CEL rules (``x-kubernetes-validations``), ``format`` (int32 ranges, date-time),
defaulting and admission webhooks. The schemas are the recording ``crd_facts.json`` next to this
module, which ``tools/crd_facts.py`` makes from the upstream OME and KubeRay CRD files: the
fields the tuner's manifests use, with their types, required lists and enums; every other
declared field is marked ``x-autotuner-unrecorded``::

    isvc = recorded_crd("InferenceService")
    for problem in isvc.validate(manifest):
        print(problem)      # spec.runtime.runtimeParameters: unknown field (...)
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema

from autotuner.k8s.names import check_label_key, check_label_value, check_object_name

CRD_FACTS = Path(__file__).with_name("crd_facts.json")
# Marks a field the CRD declares whose schema the recording leaves out (tools/crd_facts.py).
UNRECORDED = "x-autotuner-unrecorded"

# ObjectMeta fields a client may send (the server owns the rest but accepts them back).
_OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences",
    "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "selfLink",
}


@dataclass(frozen=True)
class SchemaProblem:
    """One finding; ``path`` is Kubernetes-style: ``spec.engine.runner.args[2]``."""

    path: str
    message: str
    kind: str = "invalid"  # "invalid" | "unknown-field" | "decode" | "unrecorded"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CrdSchema:
    """One served version of a CustomResourceDefinition, ready to validate objects."""

    def __init__(self, crd: Mapping[str, Any], version: str | None = None):
        spec = crd["spec"]
        versions = spec["versions"]
        chosen = next((v for v in versions if v["name"] == version), None) if version else next(
            (v for v in versions if v.get("storage")), versions[0]
        )
        if chosen is None:
            raise KeyError(f"{crd['metadata']['name']} has no version {version!r}")
        self.group: str = spec["group"]
        self.version: str = chosen["name"]
        self.kind: str = spec["names"]["kind"]
        self.plural: str = spec["names"]["plural"]
        self.namespaced: bool = spec["scope"] == "Namespaced"
        self.has_status_subresource: bool = "status" in (chosen.get("subresources") or {})
        self.schema: dict[str, Any] = chosen["schema"]["openAPIV3Schema"]
        self._validator = jsonschema.Draft4Validator(_as_json_schema(self.schema))
        # For the unknown-field walk: top-level metadata is ObjectMeta (its own rules below).
        self._structure = {**self.schema, "properties": {
            **self.schema.get("properties", {}), "metadata": {"x-kubernetes-preserve-unknown-fields": True}}}

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def validate(self, obj: Any) -> list[SchemaProblem]:
        """Every problem the API server would find in ``obj`` (empty list: accepted)."""
        if not isinstance(obj, Mapping):
            return [SchemaProblem("", "object must be a mapping", "decode")]
        problems: list[SchemaProblem] = []
        if obj.get("apiVersion") != self.api_version or obj.get("kind") != self.kind:
            problems.append(SchemaProblem(
                "apiVersion/kind",
                f"must be {self.api_version} {self.kind}, got {obj.get('apiVersion')} {obj.get('kind')}",
            ))
        problems += _metadata_problems(obj.get("metadata"), "metadata", top_level=True)
        for error in self._validator.iter_errors(dict(obj)):
            problems.append(_problem(error))
        problems += [
            SchemaProblem(path, "unknown field (not in the CRD schema: pruned by the API server, "
                          "rejected under fieldValidation=Strict)", "unknown-field") if not declared else
            SchemaProblem(path, f"declared by the CRD but not recorded in {CRD_FACTS.name} (the tuner's manifests "
                          "do not use it): run tools/crd_facts.py to record it", "unrecorded")
            for path, _, _, declared in _undeclared_fields(obj, self._structure, "")
        ]
        return sorted(problems, key=lambda p: (p.path, p.message))

    def prune(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` without the fields the schema does not declare."""
        pruned = copy.deepcopy(dict(obj))
        for _, container, key, declared in list(_undeclared_fields(pruned, self._structure, "")):
            if not declared:
                del container[key]
        return pruned


@functools.lru_cache(maxsize=None)
def _recorded_crds() -> dict[str, Any]:
    return json.loads(CRD_FACTS.read_text(encoding="utf-8"))["kinds"]


@functools.lru_cache(maxsize=None)
def recorded_crd(kind: str) -> CrdSchema:
    """The recorded schema of ``kind``: ``InferenceService``, ``BenchmarkJob`` (OME) or
    ``RayCluster`` (KubeRay)."""
    kinds = _recorded_crds()
    if kind not in kinds:
        raise KeyError(f"no recorded CRD of kind {kind!r}: {CRD_FACTS.name} has {', '.join(sorted(kinds))}")
    return CrdSchema(kinds[kind]["crd"])


def _as_json_schema(node: Any) -> Any:
    """The schema with Kubernetes' ``nullable: true`` turned into a JSON ``null`` type."""
    if isinstance(node, list):
        return [_as_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_json_schema(v) for k, v in node.items()}
    if out.get(UNRECORDED) is True:
        return {}  # judged by the walk of _undeclared_fields
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-embedded-resource"):
        out.setdefault("required", [])
        out["required"] = sorted({*out["required"], "apiVersion", "kind"})
    return out


def _undeclared_fields(obj: Any, schema: Mapping[str, Any], path: str
                       ) -> Iterator[tuple[str, Any, Any, bool]]:
    """``(path, container, key, declared)`` of every field the structural schema does not
    declare (``declared`` False), or declares without a recorded schema (True)."""
    if obj is None or not isinstance(schema, Mapping):
        return
    if isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(obj):
                yield from _undeclared_fields(item, items, f"{path}[{i}]")
        return
    if not isinstance(obj, dict) or schema.get("x-kubernetes-int-or-string"):
        return
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    for key, value in obj.items():
        child = _join(path, key)
        known = properties.get(key, additional if isinstance(additional, Mapping) else None)
        if known is not None and known.get(UNRECORDED) is True:
            yield child, obj, key, True
        elif known is not None:
            yield from _undeclared_fields(value, known, child)
        elif embedded and key in ("apiVersion", "kind"):
            continue
        elif embedded and key == "metadata":
            continue  # ObjectMeta: checked by _metadata_problems via the jsonschema pass below
        elif not preserve and additional is not True:
            yield child, obj, key, False


def _metadata_problems(meta: Any, path: str, *, top_level: bool) -> list[SchemaProblem]:
    """ObjectMeta rules: name, label keys and values, annotation values, known fields."""
    if meta is None:
        return [SchemaProblem(path, "required")] if top_level else []
    if not isinstance(meta, Mapping):
        return [SchemaProblem(path, "must be an object", "decode")]
    problems = [
        SchemaProblem(_join(path, key), "unknown field of ObjectMeta", "unknown-field")
        for key in meta if key not in _OBJECT_META_FIELDS
    ]
    name = meta.get("name")
    if name is None and not meta.get("generateName"):
        problems.append(SchemaProblem(_join(path, "name"), "required"))
    elif name is not None and (why := check_object_name(name, ome=False)) is not None:
        problems.append(SchemaProblem(_join(path, "name"), f"{name!r} {why}"))
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            problems.append(SchemaProblem(_join(path, field), "must be a map of strings", "decode"))
            continue
        for key, value in values.items():
            where = f"{path}.{field}[{key}]"
            if not isinstance(value, str):
                # The API server fails to decode the body at all (400 BadRequest).
                problems.append(SchemaProblem(
                    where, f"must be a string, not {type(value).__name__} {value!r} (quote it)", "decode"))
            elif (why := check_label_key(key) or (check_label_value(value) if field == "labels" else None)):
                problems.append(SchemaProblem(where, why))
    return problems


def _join(path: str, key: str) -> str:
    if "." in key or "/" in key:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _format_path(parts: Any) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path or "(root)"


def _problem(error: jsonschema.ValidationError) -> SchemaProblem:
    path = _format_path(error.absolute_path)
    if error.validator == "required":
        # Point at the missing field itself, not at its parent.
        missing = next((r for r in error.validator_value if r not in error.instance), "")
        return SchemaProblem(_join("" if path == "(root)" else path, missing), "required")
    if error.validator == "anyOf" and {"integer", "string"} <= {
        s.get("type") for s in error.validator_value if isinstance(s, Mapping)
    }:
        return SchemaProblem(path, f"{error.instance!r} must be an integer or a string")
    return SchemaProblem(path, error.message)
