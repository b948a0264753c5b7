"""Rendering the InferenceService: OME's rules, and every value arriving as a literal string."""

from __future__ import annotations

import pytest
import yaml

from autotuner.k8s.manifests import (
    ManifestError,
    check_inference_service,
    dump_manifest,
    render_inference_service,
    render_template,
)
from autotuner.k8s.schema import recorded_crd

NASTY = [
    'quote " and \' apostrophe',
    "new\nline and\r\nCRLF and \t tab",
    "{{ 7 * 7 }} {% if true %}jinja{% endif %} {# comment #}",
    "key: value, [flow], {map: 1}",
    "- list item",
    "# not a comment",
    "&anchor *alias !!python/object:os.system",
    "---",
    "...",
    "null", "true", "0.85", "0x1F", "~",
    "  leading and trailing spaces  ",
    "back\\slash \\n not a newline",
    "<script>&amp;</script>",
    "unicode: é 中文 \U0001F600 NEL\x85 LS\u2028 PS\u2029 DEL\x7f BOM\ufeff",
    "$(MODEL_PATH) ${HOME} `id`",
]


def render(**overrides):
    values = dict(name="sweep-t0001", namespace="autotune", campaign_id="sweep", trial_id="t0001",
                  model_name="llama-3-2-1b", runtime_name="srt-llama-3-2-1b",
                  engine_flags=["--tp-size", "2", "--dp-size", "2", "--mem-fraction-static", "0.85",
                                "--disable-cuda-graph"], gpu_count=4,
                  served_model_name="meta-llama/Llama-3.2-1B")
    return render_inference_service(**{**values, **overrides})


def test_inference_service_follows_omes_rules():
    isvc = render()
    engine = isvc["spec"]["engine"]
    assert (engine["minReplicas"], engine["maxReplicas"]) == (1, 1)
    assert engine["runner"]["name"] == "ome-container"
    assert engine["runner"]["args"] == ["--tp-size", "2", "--dp-size", "2", "--mem-fraction-static", "0.85",
                                        "--disable-cuda-graph", "--served-model-name", "meta-llama/Llama-3.2-1B"]
    assert engine["runner"]["resources"] == {"requests": {"nvidia.com/gpu": "4"}, "limits": {"nvidia.com/gpu": "4"}}
    assert "command" not in engine["runner"]
    assert isvc["spec"]["model"] == {"name": "llama-3-2-1b"}
    assert isvc["spec"]["runtime"] == {"name": "srt-llama-3-2-1b"}
    assert all(isinstance(v, str) for v in isvc["metadata"]["labels"].values())
    assert isvc["metadata"]["labels"]["autotuner.io/trial"] == "t0001"


def test_command_override_extra_args_annotations_and_auto_runtime():
    command = ["python3", "-m", "sglang.launch_server", "--model-path", "$(MODEL_PATH)", "--port", "8080"]
    isvc = render(command=command, extra_args=["--enable-metrics"], runtime_name=None,
                  annotations={"ome.io/autoscalerClass": "external"}, gpu_resource_name="amd.com/gpu")
    runner = isvc["spec"]["engine"]["runner"]
    assert runner["command"] == command
    assert runner["args"][-1] == "--enable-metrics"
    assert runner["resources"]["limits"] == {"amd.com/gpu": "4"}
    assert "runtime" not in isvc["spec"]
    assert isvc["metadata"]["annotations"] == {"ome.io/autoscalerClass": "external"}


@pytest.mark.parametrize("overrides", [{}, {"command": ["python3", "-m", "sglang.launch_server"], "runtime_name": None},
                                       {"api_key_secret": ("llm-api-key", "api-key")}])
def test_rendered_inference_services_validate_against_the_crd(overrides):
    assert recorded_crd("InferenceService").validate(render(**overrides)) == []


@pytest.mark.parametrize("text", NASTY)
def test_every_templated_value_comes_back_literally(text):
    values = dict(name=text, namespace=text, labels={text: text, "k": text}, annotations={text: text},
                  model_name=text, runtime_name=text, runner_name=text, command=[text, text], args=[text, "--x", text],
                  env=[{"name": text, "valueFrom": {"secretKeyRef": {"name": text, "key": text}}}],
                  gpu_resource_name=text, gpu_count=3)
    isvc = render_template("inferenceservice.yaml.j2", **values)
    runner = isvc["spec"]["engine"]["runner"]
    assert isvc["metadata"]["name"] == text and isvc["metadata"]["namespace"] == text
    assert isvc["metadata"]["labels"] == {text: text, "k": text}
    assert isvc["metadata"]["annotations"] == {text: text}
    assert isvc["spec"]["model"]["name"] == text and isvc["spec"]["runtime"]["name"] == text
    assert runner["name"] == text and runner["command"] == [text, text] and runner["args"] == [text, "--x", text]
    assert runner["env"] == values["env"]
    assert runner["resources"] == {"requests": {text: "3"}, "limits": {text: "3"}}
    assert set(isvc) == {"apiVersion", "kind", "metadata", "spec"}  # nothing injected at the top


@pytest.mark.parametrize("text", [t for t in NASTY if "{{" not in t])
def test_a_served_model_name_with_yaml_syntax_reaches_the_args_unchanged(text):
    isvc = render(served_model_name=text)
    assert isvc["spec"]["engine"]["runner"]["args"][-1] == text
    assert yaml.safe_load(dump_manifest(isvc)) == isvc


def test_go_template_braces_in_args_are_refused_because_ome_would_expand_them():
    with pytest.raises(ManifestError, match=r"args\[8\]: contains '\{\{', which OME expands as a Go template"):
        render(served_model_name="{{ .Name }}")


@pytest.mark.parametrize("overrides, problem", [
    ({"name": "Sweep_T1"}, "metadata.name: must be lowercase"),
    ({"name": "s" * 60}, "metadata.name: must be at most 55 characters"),
    ({"namespace": "Auto Tune"}, "metadata.namespace: must be a DNS-1123 label"),
    ({"model_name": "Llama 3"}, "spec.model.name: must be a DNS-1123 subdomain"),
    ({"runtime_name": "bad runtime"}, "spec.runtime.name: must be a DNS-1123 subdomain"),
])
def test_invalid_inputs_are_rejected_with_the_field(overrides, problem):
    with pytest.raises(ManifestError) as caught:
        render(**overrides)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


# A hand-written trial InferenceService (not rendered by the tuner), as a user would apply it.
HAND_WRITTEN = """
apiVersion: ome.io/v1beta1
kind: InferenceService
metadata:
  name: tune-qwen3-8b-t0001
  namespace: autotune
  labels:
    autotune/trial: "t0001"
spec:
  model:
    name: qwen3-8b
  runtime:
    name: srt-qwen3-8b
  engine:
    minReplicas: 1
    maxReplicas: 1
    runner:
      name: ome-container
      args: ["--tp-size", "1", "--mem-fraction-static", "0.85", "--max-running-requests", "256",
             "--chunked-prefill-size", "4096", "--schedule-policy", "lpm", "--cuda-graph-max-bs", "160"]
      resources:
        requests: {nvidia.com/gpu: "1"}
        limits: {nvidia.com/gpu: "1"}
"""


def _example_isvc() -> dict:
    return yaml.safe_load(HAND_WRITTEN)


def test_the_checker_and_the_crd_accept_a_hand_written_manifest():
    assert check_inference_service(_example_isvc()) == []
    assert recorded_crd("InferenceService").validate(_example_isvc()) == []


@pytest.mark.parametrize("breakage, problem", [
    (lambda d: d["spec"]["engine"]["runner"].pop("name"), "spec.engine.runner.name: required: without it OME's merge"),
    (lambda d: d["metadata"]["labels"].update(tries=3), "metadata.labels[tries]: must be a string, not int 3"),
    (lambda d: d["spec"]["engine"]["runner"]["resources"]["limits"].update({"nvidia.com/gpu": "2"}),
     "request '1' must equal limit '2'"),
    (lambda d: d["spec"]["engine"]["runner"]["resources"].pop("requests"), "set both"),
    (lambda d: d["spec"]["engine"].update(minReplicas=0), "spec.engine.minReplicas: must be at least 1"),
    (lambda d: d["spec"]["engine"].pop("maxReplicas"), "spec.engine.maxReplicas: must equal minReplicas"),
    (lambda d: d["spec"]["engine"]["runner"]["args"].append(8), "spec.engine.runner.args[12]: must be a string"),
    (lambda d: d["spec"].pop("engine"), "spec.engine: required"),
])
def test_the_checker_names_what_the_crd_does_not_catch(breakage, problem):
    isvc = _example_isvc()
    breakage(isvc)
    assert any(problem in p for p in check_inference_service(isvc)), check_inference_service(isvc)


def test_missing_runner_name_passes_the_crd_but_not_the_checker():
    isvc = _example_isvc()
    del isvc["spec"]["engine"]["runner"]["name"]
    assert recorded_crd("InferenceService").validate(isvc) == []  # OME removed the required list
    assert check_inference_service(isvc)


def test_best_manifest_is_valid_and_survives_gc(tmp_path):
    import yaml as _yaml

    from autotuner.results.best_manifest import write_best_manifest
    from autotuner.k8s.names import CAMPAIGN_LABEL
    from autotuner.task.load import require_valid
    from tests.conftest import REPO

    spec = require_valid(_yaml.safe_load((REPO / "examples/ome-llama-3.2-1b.yaml").read_text()))
    path = write_best_manifest(spec, {"tp_size": 2, "mem_fraction_static": 0.85}, tmp_path, "llama-1b-ome-abc123",
                               "trial_7")
    obj = _yaml.safe_load(path.read_text())
    assert recorded_crd("InferenceService").validate(obj) == []
    assert obj["spec"]["model"]["name"] == "llama-3-2-1b" and obj["metadata"]["namespace"] == "autotune"
    assert obj["metadata"]["labels"][CAMPAIGN_LABEL] == "llama-1b-ome-abc123-best"
    assert obj["spec"]["engine"]["runner"]["args"][:2] == ["--tp-size", "2"]
