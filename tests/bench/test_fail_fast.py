"""Ending a level once its requests prove a p90 SLO broken: the proof, and the result it reports."""

import random

import numpy as np
import pytest

from autotuner.bench.fail_fast import FailFast, RequestRecord, ended_level, most_requests, over_needed
from autotuner.bench.request import LevelRequest
from autotuner.trial.objective import SLO

CHECK = FailFast((("ttft", 1.0), ("tpot", 0.05)))


def records(ttfts, tpot=0.01, e2e=5.0):
    return [RequestRecord(ttft=t, tpot=tpot, e2e=e2e, output_tokens=100, input_tokens=1000) for t in ttfts]


def test_a_verdict_is_proven_only_when_the_full_levels_p90_breaks_the_limit_whatever_comes_next():
    rng = random.Random(7)
    proven_at = []
    for _ in range(300):
        cap, concurrency = rng.choice([(16, 2), (64, 8), (120, 40)])
        full = [rng.lognormvariate(-0.2, 0.5) for _ in range(cap + rng.randrange(concurrency + 1))]
        for seen in range(1, len(full) + 1):
            proven = CHECK.verdict(records(full[:seen]), cap, concurrency)
            if proven:
                # the rest of the level could not have overturned it: best case, all fast
                for rest in (full[seen:], [0.0] * (len(full) - seen)):
                    p90 = np.percentile(full[:seen] + rest, 90)
                    assert p90 > 1.0 and proven["ttft"] <= p90
                proven_at.append(seen / len(full))
                break
    assert proven_at and min(proven_at) < 0.5  # it does end levels early


def test_too_few_requests_over_the_limit_prove_nothing():
    need = over_needed(most_requests(64, 6, records([0.0], e2e=10.0)))
    assert need == 9
    assert CHECK.verdict(records([2.0] * (need - 1) + [0.1] * 3, e2e=10.0), 64, 6) == {}
    assert CHECK.verdict(records([2.0] * need, e2e=10.0), 64, 6) == {"ttft": 2.0}


def test_fast_requests_raise_the_most_a_level_can_end_with():
    """genai-bench checks its cap once a second: users finishing a request every 0.1 s can end
    ten more each before it notices."""
    assert most_requests(64, 6, records([0.0], e2e=10.0)) == 64 + 6 * 2
    assert most_requests(64, 6, records([0.0], e2e=0.1)) == 64 + 6 * 12


def test_failed_requests_do_not_count_over_the_limit():
    """genai-bench leaves failed requests out of its percentiles."""
    failed = [RequestRecord(ttft=5.0, e2e=5.0, error=True)] * 20
    assert CHECK.verdict(failed + records([2.0] * 2), 16, 2) == {}
    assert CHECK.verdict(failed + records([2.0] * 3), 16, 2) == {"ttft": 2.0}


def test_an_ended_level_breaks_the_slo_with_the_least_p90_it_proved():
    request = LevelRequest("D(1000,100)", 4, 32, "narrow 3-5", CHECK)
    seen = records([2.0] * 6 + [0.2] * 4)
    proven = CHECK.verdict(seen, 32, 4)
    level = ended_level(request.scenario, request.concurrency, seen, 12.5, proven)
    assert proven == {"ttft": 2.0} and level.ttft_p90_s == 2.0
    assert not SLO(ttft_p90_s=1.0).met(level)
    assert (level.concurrency, level.num_completed, level.duration_s) == (4, 10, 12.5)
    assert level.output_tok_s == pytest.approx(1000 / 12.5)
    assert level.ended_early == "ended after 10 requests: p90 TTFT at least 2000 ms"
