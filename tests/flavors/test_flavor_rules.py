"""The task spec names its engine flavor and version; each flavor's catalogue, start-up rules and
behaviour notes come from the engine's recorded tables."""

from __future__ import annotations

import copy

import yaml

from autotuner.flavors import FLAVORS
from autotuner.flavors.sglang import default_memory_fraction
from autotuner.flavors.option_table import load_table
from autotuner.task.load import parse_spec, require_valid
from tests.conftest import REPO


def quickstart(name: str = "quickstart.yaml") -> dict:
    return yaml.safe_load((REPO / "examples" / name).read_text())


def problems(data: dict) -> dict[str, str]:
    return {p.path: str(p) for p in parse_spec(data)[1]}


def test_flavor_and_version_default_to_sglang_newest_and_are_pinned_in_the_spec():
    spec = require_valid(quickstart())
    assert (spec.engine.flavor, spec.engine.version) == ("sglang", FLAVORS.get("sglang").versions()[-1])
    assert "version: " + spec.engine.version in spec.to_yaml()
    assert require_valid(quickstart("quickstart-vllm.yaml")).engine.version == "0.33.0"


def test_unknown_flavor_and_version_name_the_field_and_the_allowed_values():
    data = quickstart()
    data["engine"]["flavor"] = "tgi"
    assert problems(data) == {"engine.flavor": 'engine.flavor: "tgi" -- must be one of sglang, vllm'}
    data["engine"]["flavor"], data["engine"]["version"] = "sglang", "0.4.0"
    assert problems(data) == {"engine.version": 'engine.version: "0.4.0" -- SGLang versions with a recorded '
                                                'option table: 0.5.19, 0.5.23'}


def test_parameters_are_checked_against_the_flavors_catalogue():
    data = quickstart()
    data["engine"]["flavor"] = "vllm"
    found = problems(data)
    assert "search.space.tp_size" in found and "tensor_parallel_size" in found["search.space.tp_size"]
    vllm = quickstart("quickstart-vllm.yaml")
    vllm["search"]["space"]["max_num_batched_tokens"] = {"choices": [1024, 0]}
    assert "must be in [1, 2147483647]" in problems(vllm)["search.space.max_num_batched_tokens.choices.1"]


def test_choices_narrow_to_what_the_version_accepts():
    # SGLang's kv_cache_dtype choices exist in both recorded versions; a choice a version lacks is dropped
    for version in FLAVORS.get("sglang").versions():
        assert FLAVORS.get("sglang").params(version)["kv_cache_dtype"].choices == ("auto", "fp8_e5m2", "fp8_e4m3")
    assert FLAVORS.get("vllm").params("0.33.0")["scheduling_policy"].default == "fcfs"


def test_sglang_refuses_a_served_name_with_a_colon_before_any_gpu():
    data = quickstart()
    data["model"]["served_name"] = "llama:8b"
    assert "model:adapter" in problems(data)["model.served_name"]
    recorded = load_table("sglang", "0.5.23")["gpu_defaults"]["H100"]["tp1 served name with colon"]["error"]
    assert "cannot contain a colon" in recorded  # what SGLang's own check said
    data["engine"]["flavor"] = "vllm"
    data["search"] = quickstart("quickstart-vllm.yaml")["search"]
    assert "model.served_name" not in problems(data)


def test_an_unbounded_chunk_that_makes_sglangs_memory_fraction_negative_is_refused():
    table = load_table("sglang", "0.5.23")
    recorded = table["gpu_defaults"]["H100"]
    assert default_memory_fraction(table, "H100", 8192) == recorded["tp1"]["resolved"]["mem_fraction_static"]
    assert default_memory_fraction(table, "H100", 65536) < 0 < default_memory_fraction(table, "H200", 65536)
    data = quickstart()
    data["search"]["initial_configs"] = [{"chunked_prefill_size": 65536}]
    data["search"]["space"]["chunked_prefill_size"]["choices"].append(65536)
    del data["search"]["space"]["mem_fraction_static"]
    assert "default mem_fraction_static is -0." in problems(data)["search.initial_configs.0.chunked_prefill_size"]


def test_fp8_e5m2_on_hopper_is_noted_as_the_triton_attention_backend_sglang_switches_to():
    sglang = FLAVORS.get("sglang")
    for version in sglang.versions():
        for gpu, cases in load_table("sglang", version)["gpu_defaults"].items():  # what SGLang resolved
            assert cases["tp1"]["resolved"]["attention_backend"] == "fa3"
            assert cases["tp1 kv fp8_e5m2"]["resolved"]["attention_backend"] == "triton"
            assert cases["tp1 kv fp8_e4m3"]["resolved"]["attention_backend"] == "fa3"
            assert sglang.behaviour_notes({"kv_cache_dtype": "fp8_e5m2"}, gpu) == [
                f"kv_cache_dtype=fp8_e5m2: on {gpu} SGLang switches its attention backend from fa3 to triton"]
    assert sglang.behaviour_notes({"kv_cache_dtype": "fp8_e4m3"}, "H100") == []
    assert sglang.behaviour_notes({"kv_cache_dtype": "fp8_e5m2"}, "A100-80G") == []


def test_a_runtime_of_the_other_flavor_is_refused():
    data = yaml.safe_load((REPO / "examples/ome-llama-3.2-1b.yaml").read_text())
    data["engine"]["flavor"] = "vllm"
    assert "stock SGLang runtime" in problems(data)["engine.ome.runtime"]


def test_vllm_refuses_a_step_budget_below_its_batch():
    assert FLAVORS.get("vllm").config_problems({"max_num_batched_tokens": 32, "max_num_seqs": 64}, "0.33.0", "H100")
    assert not FLAVORS.get("vllm").config_problems({"max_num_batched_tokens": 64, "max_num_seqs": 64}, "0.33.0", "H100")


def test_every_flavor_has_its_parallel_and_memory_parameters_in_its_catalogue():
    for flavor in FLAVORS.loaded():
        names = set(flavor.params(flavor.newest_version()))
        assert {flavor.tp_param, flavor.dp_param, flavor.memory_param} <= names
        assert flavor.gpus_needed({flavor.tp_param: 2, flavor.dp_param: 3}) == 6
        assert all(p.starting_search and p.start_value is not None and p.short for p in flavor.catalogue)


def test_spec_with_other_fields_is_untouched_by_the_version_pin():
    data = quickstart()
    pinned = copy.deepcopy(data)
    pinned["engine"]["version"] = "0.5.19"
    assert require_valid(pinned).engine.version == "0.5.19"
    assert "version" not in data["engine"]
