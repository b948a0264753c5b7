"""Check an object against a CRD's openAPIV3Schema the way the Kubernetes API server does.

Three kinds of problem, as the API server reports them:

* ``invalid`` (422): types, enums, patterns, ``required``, int-or-string, embedded resources,
  label/annotation rules on ``metadata`` -- checked with ``jsonschema`` (Draft 4, the dialect of
  OpenAPI v3.0) after mapping Kubernetes' ``nullable`` onto JSON types;
* ``unknown-field``: a field the structural schema does not declare. The API server prunes it
  silently, or rejects it (400) under ``fieldValidation=Strict``; ``x-kubernetes-preserve-
  unknown-fields`` is honoured. :meth:`CrdSchema.prune` returns the pruned copy;
* ``decode`` (400): a value the server cannot even decode into ``ObjectMeta`` (a numeric label).

Not checked: CEL rules (``x-kubernetes-validations``), ``format`` (int32 ranges, date-time),
defaulting and admission webhooks. CRDs are read from ``../shared`` next to the repository
(``$AUTOTUNER_SHARED_DIR`` overrides), never copied into it::

    isvc = ome_crd("InferenceService")
    for problem in isvc.validate(manifest):
        print(problem)      # spec.runtime.runtimeParameters: unknown field (...)
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema
import yaml

from autotuner.k8s.names import check_label_key, check_label_value, check_object_name

OME_CRD_FILES = {
    "InferenceService": "ome.io_inferenceservices.yaml",
    "BenchmarkJob": "ome.io_benchmarkjobs.yaml",
    "ClusterServingRuntime": "ome.io_clusterservingruntimes.yaml",
    "ServingRuntime": "ome.io_servingruntimes.yaml",
    "ClusterBaseModel": "ome.io_clusterbasemodels.yaml",
    "BaseModel": "ome.io_basemodels.yaml",
}
KUBERAY_CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}

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
    kind: str = "invalid"  # "invalid" | "unknown-field" | "decode"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def shared_dir() -> Path:
    """``$AUTOTUNER_SHARED_DIR``, else ``../shared`` next to the repository."""
    override = os.environ.get("AUTOTUNER_SHARED_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[3] / "shared"


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
                          "rejected under fieldValidation=Strict)", "unknown-field")
            for path, _, _ in _unknown_fields(obj, self._structure, "")
        ]
        return sorted(problems, key=lambda p: (p.path, p.message))

    def prune(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` without the fields the schema does not declare."""
        pruned = copy.deepcopy(dict(obj))
        for _, container, key in list(_unknown_fields(pruned, self._structure, "")):
            del container[key]
        return pruned


@functools.lru_cache(maxsize=16)
def load_crd(path: str, version: str | None = None) -> CrdSchema:
    """Parse a CRD file (cached per process: the OME ones are up to 1.8 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
    with open(path, encoding="utf-8") as f:
        return CrdSchema(yaml.load(f, Loader=loader), version)


def ome_crd(kind: str) -> CrdSchema:
    """The OME CRD of ``kind`` (``InferenceService``, ``BenchmarkJob`` ...) from ``../shared``."""
    return load_crd(str(shared_dir() / "ome" / "crds" / OME_CRD_FILES[kind]))


def kuberay_crd(kind: str, version: str = "v1") -> CrdSchema:
    """The KubeRay CRD of ``kind`` (``RayCluster``, ``RayJob``) from ``../shared``."""
    return load_crd(str(shared_dir() / "kuberay" / "crds" / KUBERAY_CRD_FILES[kind]), version)


def _as_json_schema(node: Any) -> Any:
    """The schema with Kubernetes' ``nullable: true`` turned into a JSON ``null`` type."""
    if isinstance(node, list):
        return [_as_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_json_schema(v) for k, v in node.items()}
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-embedded-resource"):
        out.setdefault("required", [])
        out["required"] = sorted({*out["required"], "apiVersion", "kind"})
    return out


def _unknown_fields(obj: Any, schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any, Any]]:
    """``(path, container, key)`` of every field the structural schema does not declare."""
    if obj is None or not isinstance(schema, Mapping):
        return
    if isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(obj):
                yield from _unknown_fields(item, items, f"{path}[{i}]")
        return
    if not isinstance(obj, dict) or schema.get("x-kubernetes-int-or-string"):
        return
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    for key, value in obj.items():
        child = _join(path, key)
        if key in properties:
            yield from _unknown_fields(value, properties[key], child)
        elif isinstance(additional, Mapping):
            yield from _unknown_fields(value, additional, child)
        elif embedded and key in ("apiVersion", "kind"):
            continue
        elif embedded and key == "metadata":
            continue  # ObjectMeta: checked by _metadata_problems via the jsonschema pass below
        elif not preserve and additional is not True:
            yield child, obj, key


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
