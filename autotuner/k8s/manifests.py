"""Kubernetes manifests of a trial, rendered from the Jinja2 templates in ``templates/``.

Every value reaches the YAML as data (``| tojson``), never as pasted text; after rendering, the
document is parsed back and compared with the values it was given, then checked against the rules
OME needs that its CRD schema does not enforce (``runner.name``, GPU requests = limits, name
lengths). The engine's flags and GPU count come in as data (the engine flavor computes them), so
nothing here knows an engine. Pure functions: nothing here talks to a cluster::

    manifest = render_inference_service(
        name="sweep-t0001", namespace="autotune", campaign_id="sweep", trial_id="t0001",
        model_name="llama-3-2-1b", runtime_name="srt-llama-3-2-1b",
        engine_flags=["--tp-size", "2", "--mem-fraction-static", "0.85"], gpu_count=2, served_model_name="llama")
    manifest["spec"]["engine"]["runner"]["args"]
    # ['--tp-size', '2', '--mem-fraction-static', '0.85', '--served-model-name', 'llama']
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
import yaml

from autotuner.flavors.api_key_names import API_KEY_FLAG, POD_ENV
from autotuner.k8s.names import (
    check_label_key,
    check_label_value,
    check_namespace,
    check_object_name,
    trial_labels,
)

OME_API_VERSION = "ome.io/v1beta1"
DEFAULT_RUNNER_NAME = "ome-container"  # the runner name of every stock OME SGLang runtime
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"

# Characters JSON may leave raw but YAML does not read back as themselves: C1 controls (YAML 1.1
# treats NEL as a line break and rejects the others), the line/paragraph separators (line breaks
# in YAML 1.1), lone surrogates and the two non-characters. Written as \uXXXX they are valid
# escapes in both JSON and YAML double-quoted strings.
_YAML_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


class ManifestError(ValueError):
    """A rendered manifest breaks a rule; ``problems`` lists each as ``field.path: why``."""

    def __init__(self, what: str, problems: Sequence[str]):
        super().__init__(f"{what}:\n  " + "\n  ".join(problems))
        self.problems = list(problems)


def templates_dir() -> Path:
    """The folder of the Jinja2 templates: ``$AUTOTUNER_TEMPLATES_DIR`` or ``<repo>/templates``."""
    override = os.environ.get("AUTOTUNER_TEMPLATES_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "templates"


def yaml_safe_json(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` whose output also reads back unchanged as YAML (PyYAML is YAML 1.1).

    Non-ASCII text stays raw (``ensure_ascii`` would split characters beyond U+FFFF into
    surrogate pairs, which PyYAML does not join); only the characters YAML cannot take raw are
    escaped.

    >>> yaml.safe_load(yaml_safe_json({"k": "a\\u2028b: {{ c }}\\n# d"})) == {"k": "a\\u2028b: {{ c }}\\n# d"}
    True
    """
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@functools.lru_cache(maxsize=4)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, not an empty string
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_function"] = yaml_safe_json
    return env


def render_template(template: str, **values: Any) -> dict[str, Any]:
    """Render ``templates/<template>`` with ``values`` and parse the YAML back into a dict.

    >>> render_template("inferenceservice.yaml.j2", name="a", namespace="b", labels={},
    ...     annotations={}, model_name="m", runtime_name=None, runner_name="ome-container",
    ...     command=None, args=["--x", "1"], env=[], gpu_resource_name="nvidia.com/gpu", gpu_count=1
    ...     )["spec"]["engine"]["runner"]["args"]
    ['--x', '1']
    """
    text = _environment(str(templates_dir())).get_template(template).render(**values)
    obj = yaml.safe_load(text)
    if not isinstance(obj, dict):
        raise ManifestError(f"{template} did not render to a mapping", [repr(text[:200])])
    return obj


def dump_manifest(obj: Mapping[str, Any]) -> str:
    """YAML text of a manifest, for the trial folder and ``kubectl apply -f``."""
    return yaml.safe_dump(dict(obj), sort_keys=False, allow_unicode=True)


def render_inference_service(
    *,
    name: str,
    namespace: str,
    campaign_id: str,
    trial_id: str,
    model_name: str,
    runtime_name: str | None,
    engine_flags: Sequence[str],
    gpu_count: int,
    served_model_name: str,
    command: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    api_key_secret: tuple[str, str] | None = None,
    runner_name: str = DEFAULT_RUNNER_NAME,
    gpu_resource_name: str = DEFAULT_GPU_RESOURCE,
) -> dict[str, Any]:
    """The InferenceService of one trial, checked; raises :class:`ManifestError`.

    ``engine_flags`` (the tuned config's flags) become ``spec.engine.runner.args`` followed by
    ``--served-model-name`` and ``extra_args``; ``gpu_count`` GPUs are requested; ``command``
    replaces the runtime's command (needed to drop a store_true flag baked into it, or where the
    runtime keeps its launch line in ``args``). ``runtime_name=None`` lets OME auto-select.
    ``api_key_secret`` (Secret name, key): the container's ``AUTOTUNER_ENGINE_API_KEY`` comes from
    that Secret and ``--api-key $(AUTOTUNER_ENGINE_API_KEY)`` is expanded by the kubelet, so the
    manifest never holds the key.
    """
    labels = trial_labels(campaign_id, trial_id)
    auth = [API_KEY_FLAG, f"$({POD_ENV})"] if api_key_secret else []
    args = [*engine_flags, "--served-model-name", served_model_name, *auth, *extra_args]
    env = [{"name": POD_ENV, "valueFrom": {"secretKeyRef": {"name": api_key_secret[0], "key": api_key_secret[1]}}}
           ] if api_key_secret else []
    values = dict(
        name=name,
        namespace=namespace,
        labels=labels,
        annotations=dict(annotations or {}),
        model_name=model_name,
        runtime_name=runtime_name,
        runner_name=runner_name,
        command=list(command) if command else None,
        args=args,
        env=env,
        gpu_resource_name=gpu_resource_name,
        gpu_count=gpu_count,
    )
    obj = render_template("inferenceservice.yaml.j2", **values)
    problems = _round_trip_problems(obj, values) + check_inference_service(obj, gpu_resource_name)
    if problems:
        raise ManifestError(f"InferenceService {name!r} is not valid", problems)
    return obj


def _round_trip_problems(obj: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """Fields that did not come back from the YAML exactly as they went in."""
    runner = _dig(obj, "spec.engine.runner") or {}
    expected = {
        "metadata.name": (_dig(obj, "metadata.name"), values["name"]),
        "metadata.namespace": (_dig(obj, "metadata.namespace"), values["namespace"]),
        "metadata.labels": (_dig(obj, "metadata.labels"), values["labels"]),
        "metadata.annotations": (_dig(obj, "metadata.annotations") or {}, values["annotations"]),
        "spec.model.name": (_dig(obj, "spec.model.name"), values["model_name"]),
        "spec.runtime.name": (_dig(obj, "spec.runtime.name"), values["runtime_name"]),
        "spec.engine.runner.name": (runner.get("name"), values["runner_name"]),
        "spec.engine.runner.command": (runner.get("command"), values["command"]),
        "spec.engine.runner.args": (runner.get("args"), values["args"]),
        "spec.engine.runner.env": (runner.get("env") or [], values["env"]),
    }
    return [
        f"{path}: template rendered {got!r}, expected {want!r}"
        for path, (got, want) in expected.items()
        if got != want
    ]


def check_inference_service(obj: Mapping[str, Any], gpu_resource_name: str = DEFAULT_GPU_RESOURCE) -> list[str]:
    """Rules a trial's InferenceService must follow beyond the CRD schema, as ``path: why``.

    Works on any manifest (also hand-written ones): the CRD does not require
    ``spec.engine.runner.name``, but OME needs it (NOTES.md section 3.3).
    """
    problems: list[str] = []
    add = problems.append
    if obj.get("apiVersion") != OME_API_VERSION or obj.get("kind") != "InferenceService":
        add(f"apiVersion/kind: must be {OME_API_VERSION} InferenceService")
    meta = obj.get("metadata") or {}
    if (why := check_object_name(meta.get("name"))) is not None:
        add(f"metadata.name: {why}")
    if (why := check_namespace(meta.get("namespace"))) is not None:
        add(f"metadata.namespace: {why}")
    problems += _label_problems(meta.get("labels") or {}, meta.get("annotations") or {})

    spec = obj.get("spec") or {}
    if (why := check_object_name(_dig(spec, "model.name"), ome=False)) is not None:
        add(f"spec.model.name: {why} (the ClusterBaseModel's name)")
    if "runtime" in spec and (why := check_object_name(_dig(spec, "runtime.name"), ome=False)) is not None:
        add(f"spec.runtime.name: {why} (the ClusterServingRuntime's name)")
    engine = spec.get("engine")
    if not isinstance(engine, Mapping):
        add("spec.engine: required (without it OME deploys no engine)")
        return problems
    if not isinstance(engine.get("minReplicas"), int) or engine["minReplicas"] < 1:
        add("spec.engine.minReplicas: must be at least 1 (0 switches OME to Knative Serverless)")
    if engine.get("maxReplicas") != engine.get("minReplicas"):
        add("spec.engine.maxReplicas: must equal minReplicas (OME's default of 3 adds a CPU autoscaler)")
    runner = engine.get("runner")
    if not isinstance(runner, Mapping):
        add("spec.engine.runner: required (carries the tuned flags and the GPU count)")
        return problems
    if not isinstance(runner.get("name"), str) or not runner["name"]:
        add(
            "spec.engine.runner.name: required: without it OME's merge replaces the runtime's "
            f"container name '{DEFAULT_RUNNER_NAME}' with an empty one and the Deployment is rejected"
        )
    for field in ("command", "args"):
        items = runner.get(field)
        if items is None:
            continue
        if not isinstance(items, list):
            add(f"spec.engine.runner.{field}: must be a list of strings")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                add(f"spec.engine.runner.{field}[{i}]: must be a string, not {type(item).__name__} {item!r}")
            elif "{{" in item:
                add(f"spec.engine.runner.{field}[{i}]: contains '{{{{', which OME expands as a Go template")
    problems += _gpu_problems(runner.get("resources") or {}, gpu_resource_name)
    return problems


def _label_problems(labels: Any, annotations: Any) -> list[str]:
    problems = [f"metadata.{field}: must be a map of strings"
                for field, value in (("labels", labels), ("annotations", annotations)) if not isinstance(value, Mapping)]
    if problems:
        return problems
    for key, value in labels.items():
        why = check_label_key(key) or check_label_value(value)
        if why is not None:
            problems.append(f"metadata.labels[{key}]: {why}")
    for key, value in annotations.items():
        why = check_label_key(key) or (None if isinstance(value, str) else f"must be a string, not {value!r}")
        if why is not None:
            problems.append(f"metadata.annotations[{key}]: {why}")
    return problems


def _gpu_problems(resources: Mapping[str, Any], gpu_resource_name: str) -> list[str]:
    requests = (resources.get("requests") or {}).get(gpu_resource_name)
    limits = (resources.get("limits") or {}).get(gpu_resource_name)
    path = f"spec.engine.runner.resources.{{requests,limits}}[{gpu_resource_name}]"
    if requests is None or limits is None:
        return [f"{path}: set both (maps merge per key with the runtime's, so one alone keeps its value)"]
    if str(requests) != str(limits):
        return [f"{path}: request {requests!r} must equal limit {limits!r} (extended resources)"]
    if not str(requests).isdigit() or int(str(requests)) < 1:
        return [f"{path}: must be a positive whole number of GPUs, got {requests!r}"]
    return []


def _dig(obj: Any, dotted: str) -> Any:
    """``obj[a][b][c]`` for ``"a.b.c"``, None where a level is missing."""
    for key in dotted.split("."):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj
