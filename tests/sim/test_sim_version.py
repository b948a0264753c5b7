"""The simulator's version follows everything its numbers follow from."""

from autotuner.sim.version import _sources, simulator_version


def test_version_covers_the_flavors_the_facts_and_the_recorded_defaults():
    names = {p.as_posix().split("autotuner/", 1)[1] for p in _sources()}
    assert {"sim/engine.py", "sim/engine_models/vllm.py", "facts/gpus.py", "facts/fit.py",
            "flavors/options/sglang-0.5.23.json"} <= names
    assert not any(name.endswith(".verdicts.json") for name in names)
    assert len(simulator_version()) == 16
