"""The parser against result files that real genai-bench writes (made once per session by the
``genai_bench_results`` fixture: tests/bench/helpers.py)."""

import json

import pytest

from autotuner.bench.parse import (
    find_failed_level_files,
    find_level_files,
    parse_failed_level,
    parse_level_file,
)


def test_two_levels_without_errors(genai_bench_results):
    [(c1, raw1)] = [(parse_level_file(f), json.loads(f.read_text())) for f in find_level_files(genai_bench_results.c1)]
    [c4] = [parse_level_file(f) for f in find_level_files(genai_bench_results.c4)]

    assert [(level.scenario, level.concurrency) for level in (c1, c4)] == [("D(100,100)", 1), ("D(100,100)", 4)]
    for level in (c1, c4):
        assert level.num_requests == level.num_completed >= 20 and (level.num_errors, level.error_rate) == (0, 0.0)
        assert level.error_codes == {} and not level.all_failed
        assert 0 < level.ttft_p50_s <= level.ttft_p90_s <= level.ttft_p99_s
        assert 0 < level.tpot_p50_s <= level.tpot_p90_s <= level.tpot_p99_s
        assert level.e2e_p90_s > level.ttft_p90_s
        assert level.mean_output_tokens == pytest.approx(100.0) and level.mean_input_tokens > 0
        assert level.duration_s > 0
        # throughput is what the level produced over its duration
        assert level.output_tok_s == pytest.approx(level.num_completed * 100 / level.duration_s, rel=0.02)
        assert level.requests_per_s == pytest.approx(level.num_completed / level.duration_s, rel=0.02)
    aggregated = raw1["aggregated_metrics"]
    assert c1.duration_s == aggregated["run_duration"]
    assert c1.ttft_p90_s == aggregated["stats"]["ttft"]["p90"]  # genai-bench writes seconds


def test_the_error_rate_is_recomputed(genai_bench_results):
    [path] = find_level_files(genai_bench_results.with_errors)
    assert json.loads(path.read_text())["aggregated_metrics"]["error_rate"] == 0  # genai-bench bug

    level = parse_level_file(path)

    assert (level.scenario, level.concurrency) == ("D(50,20)", 2)
    assert 0 < level.num_errors < level.num_requests and level.num_completed == level.num_requests - level.num_errors
    assert level.error_rate == pytest.approx(level.num_errors / level.num_requests)
    assert level.error_codes == {"500": level.num_errors}
    assert not level.all_failed


def test_a_level_with_the_server_down_is_a_failed_level(genai_bench_results):
    folder = genai_bench_results.server_down
    assert find_level_files(folder) == []
    [path] = find_failed_level_files(folder)
    requests = json.loads(path.read_text())["individual_request_metrics"]

    level = parse_failed_level(path)

    assert (level.scenario, level.concurrency) == ("D(50,20)", 1)
    assert level.all_failed
    assert level.error_codes == {"503": len(requests)}  # genai-bench's code for a refused connection
    assert (level.num_requests, level.num_completed, level.num_errors) == (len(requests), 0, len(requests))
    assert level.error_rate == 1.0
    assert level.ttft_p90_s is None and level.output_tok_s == 0.0


def test_the_live_tally_counts_requests_a_trimmed_list_lacks(genai_bench_results, tmp_path):
    [original] = find_failed_level_files(genai_bench_results.server_down)
    data = json.loads(original.read_text())
    total = len(data["individual_request_metrics"])
    data["individual_request_metrics"] = data["individual_request_metrics"][:2]
    path = tmp_path / original.name
    path.write_text(json.dumps(data))

    level = parse_failed_level(path)

    assert level.error_codes == {"503": total} and level.num_requests == total


def test_failed_level_from_file_name_and_request_list(genai_bench_results, tmp_path):
    [original] = find_failed_level_files(genai_bench_results.server_down)
    requests = json.loads(original.read_text())["individual_request_metrics"][:2]
    # No aggregated block at all: counts come from the requests, the level from the file name.
    path = tmp_path / "debug_for_run_N100_20_50_10_16.json"
    path.write_text(json.dumps({"individual_request_metrics": requests}))

    level = parse_failed_level(path)

    assert (level.scenario, level.concurrency) == ("N100_20_50_10", 16)
    assert level.error_codes == {"503": 2}
    assert level.num_requests == 2 and level.all_failed


def c4_file(genai_bench_results):
    [path] = find_level_files(genai_bench_results.c4)
    return path


def test_a_file_with_its_request_list_trimmed_parses_the_same(genai_bench_results, tmp_path):
    data = json.loads(c4_file(genai_bench_results).read_text())
    data["individual_request_metrics"] = data["individual_request_metrics"][:2]
    path = tmp_path / c4_file(genai_bench_results).name
    path.write_text(json.dumps(data))

    assert parse_level_file(path) == parse_level_file(c4_file(genai_bench_results))


def test_milliseconds_are_converted_to_seconds(genai_bench_results, tmp_path):
    data = json.loads(c4_file(genai_bench_results).read_text())
    stats = data["aggregated_metrics"]["stats"]
    for metric in ("ttft", "tpot", "e2e_latency", "output_latency"):
        stats[metric] = {k: (v * 1000 if v is not None else None) for k, v in stats[metric].items()}
    data["_time_unit"] = "ms"
    path = tmp_path / "D100_100_text-to-text_num_concurrency_4_time_3s.json"
    path.write_text(json.dumps(data))

    in_ms, in_s = parse_level_file(path), parse_level_file(c4_file(genai_bench_results))

    assert in_ms.ttft_p90_s == pytest.approx(in_s.ttft_p90_s)
    assert in_ms.tpot_p99_s == pytest.approx(in_s.tpot_p99_s)
    assert in_ms.e2e_p90_s == pytest.approx(in_s.e2e_p90_s)
    assert in_ms.duration_s == in_s.duration_s  # run_duration is always seconds
    assert in_ms.mean_output_tokens == in_s.mean_output_tokens  # token counts are not times


def test_half_written_file_raises_value_error(genai_bench_results, tmp_path):
    text = c4_file(genai_bench_results).read_text()
    path = tmp_path / "D100_100_text-to-text_num_concurrency_4_time_3s.json"
    path.write_text(text[: len(text) // 2])

    with pytest.raises(ValueError):
        parse_level_file(path)
