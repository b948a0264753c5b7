"""Every command line the tuner can generate, for every recorded version of its flavor, passes that
version's recorded option table (the engine's own parser, replayed): no error, no deprecation."""

from __future__ import annotations

import pytest
import yaml

from autotuner.flavors import FLAVORS
from autotuner.flavors.argparse_replay import replay
from autotuner.flavors.option_table import deprecation_warnings, load_table
from autotuner.task.load import require_valid
from tests.conftest import REPO
from tests.flavors.generated import catalogue_configs, task_configs

EXAMPLES = sorted(REPO.glob("examples/*.yaml"))
VERSIONS = [(name, version) for name in FLAVORS for version in FLAVORS.get(name).versions()]


def server_argv(flavor, config, version):
    return flavor.server_argv("/models/m", config, version, host="0.0.0.0", port=8080, served_model_name="m",
                              api_key="k", tokenizer="/models/tok")


@pytest.mark.parametrize(("flavor_name", "version"), VERSIONS)
def test_every_catalogue_value_passes_the_engines_parser(flavor_name, version):
    flavor, table = FLAVORS.get(flavor_name), load_table(flavor_name, version)
    configs = list(catalogue_configs(flavor, version))
    assert {name for config in configs for name in config} == set(flavor.params(version))
    for config in configs:
        verdict = replay(table, server_argv(flavor, config, version))
        assert verdict.errors == [] and verdict.warnings == [], config


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_config_of_every_example_passes_every_version_of_its_flavor(example):
    spec = require_valid(yaml.safe_load(example.read_text()))
    flavor = spec.engine.engine_flavor
    checked = 0
    for version in flavor.versions():
        versioned = spec.model_copy(update={"engine": spec.engine.model_copy(update={"version": version})})
        table = load_table(flavor.name, version)
        for config in task_configs(versioned):
            argv = server_argv(flavor, config, version)
            assert replay(table, argv).errors == [], (version, config)
            assert deprecation_warnings(table, argv) == [], (version, config)
            checked += 1
    assert checked >= 30 * len(flavor.versions())


def test_renamed_flags_are_written_the_way_each_version_spells_them():
    sglang = FLAVORS.get("sglang")
    for version in sglang.versions():
        argv = sglang.config_argv({"cuda_graph_max_bs": 160, "disable_cuda_graph": True}, version)
        assert argv == ["--cuda-graph-max-bs-decode", "160", "--cuda-graph-backend-decode=disabled",
                        "--cuda-graph-backend-prefill=disabled"]
    # the spelling the tuner wrote before: 0.5.23 rejects one flag and deprecates the other
    old = ["--model-path", "m", "--cuda-graph-max-bs", "160", "--disable-cuda-graph"]
    assert "ambiguous option: --cuda-graph-max-bs" in replay(load_table("sglang", "0.5.23"), old).errors[0]
    assert replay(load_table("sglang", "0.5.19"), old).warnings != []


def test_a_negatable_flag_says_false_explicitly_and_a_store_true_flag_only_true():
    vllm, sglang = FLAVORS.get("vllm"), FLAVORS.get("sglang")
    assert vllm.config_argv({"enable_prefix_caching": False}, "0.33.0") == ["--no-enable-prefix-caching"]
    assert sglang.config_argv({"disable_radix_cache": False, "enable_mixed_chunk": True}, "0.5.23") == [
        "--enable-mixed-chunk"]
