"""The answer: which configs are re-measured, which one is recommended, and its provenance."""

from autotuner.results.answer import choose, provenance, remeasure_candidates, remeasure_configs
from autotuner.results.records import TrialRecord, TrialStatus
from autotuner.task.space import engine_args
from autotuner.task.load import require_valid
from autotuner.task.spec import RemeasureSpec
from autotuner.trial.directive import Phase, TrialDirective


def search(trial_id, score, config, boundary=None, feasible=True, status=TrialStatus.DONE):
    return TrialRecord(trial_id, config, status=status, score=score, feasible=feasible,
                       boundary={"D(1,1)": 32} if boundary is None else boundary)


def test_candidates_are_the_best_distinct_configs_with_a_boundary():
    trials = [search("a", 900, {"tp_size": 1}), search("b", 950, {"tp_size": 1}),  # same config as a
              search("c", 800, {"tp_size": 2}), search("d", 990, {"tp_size": 4}, boundary={}),
              search("e", 700, {"tp_size": 8}, status=TrialStatus.STOPPED_EARLY), search("f", 0, {"tp_size": 16}, feasible=False)]
    assert [t.trial_id for t in remeasure_candidates(trials, 3)] == ["b", "c", "e"]
    configs = remeasure_configs(trials, RemeasureSpec(configs=2, repeats=4))
    directives = [TrialDirective.of_config(c) for c in configs]
    assert directives == [TrialDirective(Phase.REMEASURE, (("D(1,1)", 32),), 4, "b"),
                          TrialDirective(Phase.REMEASURE, (("D(1,1)", 32),), 4, "c")]
    assert [engine_args(c) for c in configs] == [{"tp_size": 1}, {"tp_size": 2}]
    assert remeasure_configs(trials, RemeasureSpec(configs=0)) == []


def test_configs_that_behave_alike_are_remeasured_once_and_the_next_distinct_ones_take_their_place():
    """Near-copies (a knob that does not bind) top the ranking by their luckiest single measurement."""
    def config(chunk, mem):
        return {"chunked_prefill_size": chunk, "mem_fraction_static": mem}

    trials = [search("lucky", 1000, config(16384, 0.95)), search("luckier", 1010, config(16384, 0.8)),
              search("copy", 990, config(16384, 0.85)), search("other", 980, config(4096, 0.8)),
              search("third", 900, config(8192, 0.8))]
    by_chunk = lambda c: c["chunked_prefill_size"]  # noqa: E731
    assert [t.trial_id for t in remeasure_candidates(trials, 3)] == ["luckier", "lucky", "copy"]
    assert [t.trial_id for t in remeasure_candidates(trials, 3, alike=by_chunk)] == ["luckier", "other", "third"]
    assert [engine_args(c) for c in remeasure_configs(trials, RemeasureSpec(configs=2), by_chunk)] == [
        config(16384, 0.8), config(4096, 0.8)]


def test_the_best_mean_wins_over_the_luckiest_search_score():
    lucky, steady = search("a", 1000, {"tp_size": 1}), search("b", 900, {"tp_size": 2})
    again = [TrialRecord("r1", {"tp_size": 1}, phase=Phase.REMEASURE, remeasure_of="a", remeasured_mean=850.0),
             TrialRecord("r2", {"tp_size": 2}, phase=Phase.REMEASURE, remeasure_of="b", remeasured_mean=880.0)]
    answer = choose([lucky, steady, *again])
    assert answer.search.trial_id == "b" and answer.record.trial_id == "r2" and answer.value == 880.0
    assert answer.remeasured


def test_without_a_remeasurement_the_answer_is_the_searchs_best():
    answer = choose([search("a", 1000, {"tp_size": 1}), search("b", 900, {"tp_size": 2})])
    assert answer.search.trial_id == answer.record.trial_id == "a" and answer.value == 1000 and not answer.remeasured
    assert choose([search("x", 0, {}, feasible=False)]) is None


def test_provenance_says_plainly_when_the_engine_is_simulated():
    spec = require_valid({"name": "t", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                          "search": {"space": {"tp_size": {"choices": [1, 2]}}}})
    facts = provenance(spec)
    assert facts["engine"]["simulated"] and facts["engine"]["name"] == "simulator"
    assert "not SGLang" in facts["engine"]["note"] and len(facts["engine"]["version"]) == 16
    assert facts["gpu"] == "H100" and facts["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert facts["slo"]["ttft_p90_s"] == 1.0 and facts["remeasure"] == {"configs": 3, "repeats": 3}
    assert facts["workload"]["load"]["max"] == 512 and facts["tuner_version"]


def test_a_trial_whose_engine_failed_mid_level_is_never_remeasured_nor_the_answer(tmp_path):
    """Issue 25 item 7: the engine of the highest-scoring trial was killed after a passing level;
    its row (as the recorder writes it) says failed, feasible, with a score and a boundary."""
    from autotuner.results.folder import CampaignFolder

    folder = CampaignFolder(tmp_path)
    folder.write_trials([search("killed", 1500, {"tp_size": 1}, status=TrialStatus.FAILED),
                         search("refused", 1400, {"tp_size": 4}, status=TrialStatus.REJECTED),
                         search("ok", 900, {"tp_size": 2})])
    trials = folder.read_trials()
    assert [t.trial_id for t in remeasure_candidates(trials, 3)] == ["ok"]
    assert [TrialDirective.of_config(c).remeasure_of
            for c in remeasure_configs(trials, RemeasureSpec(configs=2, repeats=2))] == ["ok"]
    assert choose(trials).search.trial_id == "ok"
    assert choose(trials[:2]) is None


def test_a_directive_travels_in_tunes_config_as_one_value_and_old_configs_still_read():
    directive = TrialDirective.remeasure("s7", {"D(1,1)": 32, "D(9,9)": 4}, repeats=3)
    config = directive.into({"tp_size": 2})
    assert set(config) == {"tp_size", TrialDirective.KEY} and isinstance(config[TrialDirective.KEY], str)
    assert TrialDirective.of_config(config) == directive and directive.remeasures
    assert TrialDirective.of_config({"tp_size": 2}) == TrialDirective() and TrialDirective().into({"a": 1}) == {"a": 1}
    # a re-measurement trial restored from a folder of 148968d
    old = {"tp_size": 2, "remeasure": {"loads": {"D(1,1)": 32, "D(9,9)": 4}, "repeats": 3}, "remeasure_of": "s7"}
    assert TrialDirective.of_config(old) == directive
