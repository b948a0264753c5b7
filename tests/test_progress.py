"""The CLI's live lines."""

from autotuner.progress import describe_config, describe_level


def test_describe_config_is_short_and_ignores_non_engine_keys():
    text = describe_config({"tp_size": 2, "mem_fraction_static": 0.8512, "schedule_policy": "lpm", "__x": 1})
    assert text == "tp=2 mem=0.851 policy=lpm"


def test_describe_level_shows_slo_state_and_score():
    line = describe_level({"level": 2, "scenario": "D(100,100)", "concurrency": 8, "output_tok_s_per_gpu": 1234.4,
                           "ttft_p90_s": 0.0412, "tpot_p90_s": 0.009, "error_rate": 0.0, "meets_slo": False,
                           "score": -1.5}, 4, "tok/s/GPU")
    assert line.startswith("level 2/4 D(100,100) c=8: 1234 tok/s/GPU ttft90 41ms tpot90 9ms")
    assert "SLO missed" in line and "score -1.5" in line
