"""The parser against real genai-bench 0.0.5 output (read in place from the shared folder)."""

import json

import pytest

from autotuner.bench.parse import (
    find_failed_level_files,
    find_level_files,
    parse_failed_level,
    parse_level_file,
)

from .helpers import EXAMPLE_RESULTS

pytestmark = pytest.mark.shared


def test_run1_two_levels_c1_c4():
    files = find_level_files(EXAMPLE_RESULTS / "run1-D100_100-c1-c4")
    levels = sorted((parse_level_file(f) for f in files), key=lambda level: level.concurrency)

    assert [(level.scenario, level.concurrency) for level in levels] == [("D(100,100)", 1), ("D(100,100)", 4)]
    c1, c4 = levels
    assert (c1.num_requests, c1.num_completed, c1.num_errors, c1.error_rate) == (21, 21, 0, 0.0)
    assert c1.duration_s == pytest.approx(12.1744, abs=1e-3)
    assert c1.output_tok_s == pytest.approx(172.49, abs=0.01)
    assert c4.output_tok_s == pytest.approx(665.53, abs=0.01)
    assert c4.requests_per_s == pytest.approx(6.6553, abs=1e-3)
    assert c4.error_codes == {} and not c4.all_failed
    for level in levels:
        assert 0.01 < level.ttft_p50_s <= level.ttft_p90_s <= level.ttft_p99_s < 1.0
        assert 0.001 < level.tpot_p50_s <= level.tpot_p90_s <= level.tpot_p99_s < 0.1
        assert level.e2e_p90_s > level.ttft_p90_s
        assert level.mean_output_tokens == pytest.approx(100.0)
        assert level.mean_input_tokens == pytest.approx(100, abs=2)


def test_run2_error_rate_is_recomputed():
    [path] = find_level_files(EXAMPLE_RESULTS / "run2-30pct-errors")
    assert json.loads(path.read_text())["aggregated_metrics"]["error_rate"] == 0  # genai-bench bug

    level = parse_level_file(path)

    assert (level.num_requests, level.num_completed, level.num_errors) == (43, 29, 14)
    assert level.error_rate == pytest.approx(14 / 43)
    assert level.error_codes == {"500": 14}
    assert not level.all_failed


def test_run3_server_down_is_a_failed_level():
    folder = EXAMPLE_RESULTS / "run3-server-down"
    assert find_level_files(folder) == []
    [path] = find_failed_level_files(folder)

    level = parse_failed_level(path)

    assert (level.scenario, level.concurrency) == ("D(50,20)", 1)
    assert level.all_failed
    # The per-request list of this example was trimmed to 2 entries; the live tally has all 412.
    assert level.error_codes == {"503": 412}
    assert (level.num_requests, level.num_completed, level.num_errors) == (412, 0, 412)
    assert level.error_rate == 1.0
    assert level.ttft_p90_s is None and level.output_tok_s == 0.0


def test_failed_level_from_file_name_and_request_list(tmp_path):
    original = json.loads((EXAMPLE_RESULTS / "run3-server-down" / "debug_for_run_D50_20_1.json").read_text())
    # No aggregated block at all: counts come from the requests, the level from the file name.
    path = tmp_path / "debug_for_run_N100_20_50_10_16.json"
    path.write_text(json.dumps({"individual_request_metrics": original["individual_request_metrics"]}))

    level = parse_failed_level(path)

    assert (level.scenario, level.concurrency) == ("N100_20_50_10", 16)
    assert level.error_codes == {"503": 2}
    assert level.num_requests == 2 and level.all_failed


def test_trimmed_file():
    level = parse_level_file(EXAMPLE_RESULTS / "TRIMMED_D100_100_c4.json")

    assert (level.scenario, level.concurrency) == ("D(100,100)", 4)
    assert level.output_tok_s == pytest.approx(665.53, abs=0.01)
    assert level.ttft_p50_s == pytest.approx(0.0389, abs=1e-3)


def test_milliseconds_are_converted_to_seconds(tmp_path):
    data = json.loads((EXAMPLE_RESULTS / "TRIMMED_D100_100_c4.json").read_text())
    stats = data["aggregated_metrics"]["stats"]
    for metric in ("ttft", "tpot", "e2e_latency", "output_latency"):
        stats[metric] = {k: (v * 1000 if v is not None else None) for k, v in stats[metric].items()}
    data["_time_unit"] = "ms"
    path = tmp_path / "D100_100_text-to-text_num_concurrency_4_time_3s.json"
    path.write_text(json.dumps(data))

    in_ms, in_s = parse_level_file(path), parse_level_file(EXAMPLE_RESULTS / "TRIMMED_D100_100_c4.json")

    assert in_ms.ttft_p90_s == pytest.approx(in_s.ttft_p90_s)
    assert in_ms.tpot_p99_s == pytest.approx(in_s.tpot_p99_s)
    assert in_ms.e2e_p90_s == pytest.approx(in_s.e2e_p90_s)
    assert in_ms.duration_s == in_s.duration_s  # run_duration is always seconds
    assert in_ms.mean_output_tokens == in_s.mean_output_tokens  # token counts are not times


def test_half_written_file_raises_value_error(tmp_path):
    text = (EXAMPLE_RESULTS / "TRIMMED_D100_100_c4.json").read_text()
    path = tmp_path / "D100_100_text-to-text_num_concurrency_4_time_3s.json"
    path.write_text(text[: len(text) // 2])

    with pytest.raises(ValueError):
        parse_level_file(path)
