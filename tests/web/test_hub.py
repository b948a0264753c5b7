"""The results hub and its Tune callback: pushes mirror the recorder, never block or fail a
campaign, and a new run of a campaign replaces what an earlier run pushed."""

import pickle
from types import SimpleNamespace

import autotuner.results.hub as hub_module
from autotuner.results.hub import HubFeed, HubState
from autotuner.results.recorder import ResultsRecorder
from tests.web.synthetic import synthetic_report


class FakeHub:
    def __init__(self):
        self.state = HubState()
        self.push = SimpleNamespace(remote=lambda *a: self.state.push(*a))
        self.begin = SimpleNamespace(remote=lambda *a: self.state.begin(*a))


def trial(tid="t1"):
    return SimpleNamespace(trial_id=tid, config={"tp_size": 1, "mem_fraction_static": 0.8}, error_file=None)


def test_the_feed_mirrors_the_recorder(tmp_path, monkeypatch):
    fake = FakeHub()
    monkeypatch.setattr(hub_module, "get_hub", lambda create: fake)
    recorder = ResultsRecorder(str(tmp_path), "tok/s/GPU")
    feed = HubFeed(recorder, "camp-1")
    t = trial()
    for cb in (recorder, feed):
        cb.setup()
    for cb in (recorder, feed):
        cb.on_trial_start(0, [t], t)
    epoch, seq, entries = fake.state.changes({"camp-1": (0, 0)})["camp-1"]
    assert entries[-1]["trial"]["status"] == "deploying" and entries[-1]["levels"] == []
    report = synthetic_report(__import__("random").Random(0), 1, 1, t.config).to_tune()
    for cb in (recorder, feed):
        cb.on_trial_result(0, [t], t, report)
    _, seq2, entries = fake.state.changes({"camp-1": (epoch, seq)})["camp-1"]
    assert seq2 > seq and entries[0]["trial"]["levels_run"] == 1 and entries[0]["levels"][0]["concurrency"] == 1
    for cb in (recorder, feed):
        cb.on_trial_complete(0, [t], t)
    _, _, entries = fake.state.changes({"camp-1": (epoch, seq2)})["camp-1"]
    assert entries[0]["trial"]["status"] == "stopped early"


def test_no_hub_never_fails_the_campaign(tmp_path, monkeypatch):
    def missing(create):
        raise ValueError("Failed to look up actor results_hub")

    monkeypatch.setattr(hub_module, "get_hub", missing)
    recorder = ResultsRecorder(str(tmp_path), "tok/s/GPU")
    feed = HubFeed(recorder, "camp-1")
    t = trial()
    feed.setup()
    recorder.on_trial_start(0, [t], t)
    feed.on_trial_start(0, [t], t)
    feed.on_experiment_end([t])
    assert feed._unavailable


def test_a_new_run_replaces_what_the_earlier_run_pushed():
    hub = HubState()
    hub.push("c", {"trial_id": "a", "status": "running"}, [{"level": 1}])
    hub.push("c", {"trial_id": "b", "status": "running"}, [])
    reader = hub.changes({"c": (0, 0)})["c"][:2]
    hub.begin("c", [{"trial_id": "a", "status": "interrupted"}], "/runs/c")  # a resume reloaded trial a only
    epoch, _, entries = hub.changes({"c": reader})["c"]
    assert epoch == reader[0] + 1
    kept = [(e["trial"]["trial_id"], e["trial"]["status"], e["levels"]) for e in entries]
    assert kept == [("a", "interrupted", None)] and hub.folders() == {"c": "/runs/c"}


def test_the_feed_pickles_with_its_recorder(tmp_path):
    recorder = ResultsRecorder(str(tmp_path), "tok/s/GPU")
    rec2, feed2 = pickle.loads(pickle.dumps([recorder, HubFeed(recorder, "c")]))
    assert feed2.recorder is rec2 and feed2._hub is None
