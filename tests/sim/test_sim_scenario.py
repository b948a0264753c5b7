"""genai-bench scenarios as the simulator samples them."""

import pytest

from autotuner.sim.scenario import parse_scenario


@pytest.mark.parametrize("text,kind", [("D(100,100)", "D"), ("N(480,240)/(300,150)", "N"),
                                       ("U(50,100)/(20,40)", "U"), ("U(100,200)", "U")])
def test_scenarios_parse_and_sample_like_genai_bench(text, kind):
    import random

    s = parse_scenario(text)
    assert s.kind == kind
    rng = random.Random(1)
    samples = [s.sample(rng) for _ in range(2000)]
    assert all(i >= 1 and o >= 1 for i, o in samples)
    mean_in = sum(i for i, _ in samples) / len(samples)
    assert mean_in == pytest.approx(s.mean_input, rel=0.05)
    if kind == "U" and text == "U(50,100)/(20,40)":
        assert all(50 <= i < 100 and 20 <= o < 40 for i, o in samples)


def test_unsupported_scenario_is_rejected():
    with pytest.raises(ValueError, match="D\\(in,out\\)"):
        parse_scenario("E(1024)")
