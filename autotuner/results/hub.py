"""The live results hub: a named, detached Ray actor that holds the latest state of every trial of
every campaign on a cluster, fed by a Tune callback on each campaign's driver.

The web app polls it for changes; it is only a cache (the Parquet tables in the campaign folder
stay the record), so losing it loses nothing::

    hub = get_hub(create=True)
    hub.push.remote("quickstart-1a2b3c", {"trial_id": "t1", "status": "deploying"}, [])
    epoch, seq, entries = ray.get(hub.changes.remote({"quickstart-1a2b3c": (0, 0)}))["quickstart-1a2b3c"]

Pushes are fire-and-forget: a campaign never waits for, nor fails because of, the hub.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import ray
from ray.tune import Callback

from autotuner.results.recorder import ResultsRecorder
from autotuner.results.records import LevelRow, TrialStatus
from autotuner.trial.report import TrialReport

HUB_NAME = "results_hub"
HUB_NAMESPACE = "autotuner"  # the Ray namespace of the project's named actors: the hub, each campaign's incumbent board
MAX_CAMPAIGNS = 200  # the hub forgets the campaigns updated longest ago beyond this many

log = logging.getLogger(__name__)


class HubState:
    """Latest trial row and level rows per (campaign, trial), each change numbered per campaign.

    An entry is ``{"trial": <trials.parquet row>, "levels": [<levels.parquet rows>] | None,
    "seq": n}``; ``levels`` is None when the pusher did not see the trial start (a resumed
    campaign's older trials), so readers keep the levels they have from Parquet. Each run of a
    campaign (a start or a resume) begins a new epoch that replaces what an earlier run pushed.
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, dict[str, Any]]] = {}
        self._epoch: dict[str, int] = {}
        self._folders: dict[str, str] = {}
        self._seq: dict[str, int] = {}

    def begin(self, campaign_id: str, trials: list[dict[str, Any]], folder: str) -> None:
        """A run starts: forget the campaign's entries, keep ``trials`` (what the run reloaded),
        and note its folder (readers find campaigns whose folder they could not guess)."""
        self._folders[campaign_id] = folder
        self._epoch[campaign_id] = self._epoch.get(campaign_id, 0) + 1
        self._entries[campaign_id] = {}
        for trial in trials:
            self.push(campaign_id, trial, None)
        self._touch(campaign_id)

    def push(self, campaign_id: str, trial: dict[str, Any], levels: list[dict[str, Any]] | None) -> None:
        self._epoch.setdefault(campaign_id, 1)
        seq = self._touch(campaign_id)
        entries = self._entries.setdefault(campaign_id, {})
        old = entries.get(trial["trial_id"])
        if levels is None and old is not None:
            levels = old["levels"]
        entries[trial["trial_id"]] = {"trial": trial, "levels": levels, "seq": seq}

    def _touch(self, campaign_id: str) -> int:
        seq = self._seq.pop(campaign_id, 0) + 1
        self._seq[campaign_id] = seq  # re-inserted: dict order is least recently updated first
        while len(self._seq) > MAX_CAMPAIGNS:
            oldest = next(iter(self._seq))
            del self._seq[oldest]
            self._entries.pop(oldest, None)
            self._epoch.pop(oldest, None)
            self._folders.pop(oldest, None)
        return seq

    def changes(self, since: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """For each campaign id asked for with the (epoch, seq) the reader has: the current epoch,
        the latest seq and the entries the reader lacks (all of them when the epoch changed).
        Campaigns the hub does not know are left out."""
        out = {}
        for cid, (epoch, after) in since.items():
            if cid not in self._seq:
                continue
            if epoch != self._epoch[cid]:
                after = 0
            out[cid] = (self._epoch[cid], self._seq[cid],
                        [e for e in self._entries.get(cid, {}).values() if e["seq"] > after])
        return out

    def folders(self) -> dict[str, str]:
        """The folder of every campaign that began a run while the hub was up."""
        return dict(self._folders)


# The actor: restarted by Ray if its process dies (empty: readers fall back on the Parquet tables).
ResultsHub = ray.remote(num_cpus=0, max_restarts=-1)(HubState)


def get_hub(create: bool) -> Any:
    """The hub's actor handle; with ``create`` it is started (detached) when missing, otherwise a
    missing hub raises ValueError."""
    if create:
        return ResultsHub.options(name=HUB_NAME, namespace=HUB_NAMESPACE, lifetime="detached",
                                  get_if_exists=True).remote()
    return ray.get_actor(HUB_NAME, namespace=HUB_NAMESPACE)


class HubFeed(Callback):
    """Tune callback that mirrors the recorder's trial records into the hub as they change.

    Placed after the :class:`ResultsRecorder` in the callbacks list, so each record it pushes is
    already updated. On a shared cluster (``RAY_ADDRESS`` set: ``ray job submit``, the web app)
    it starts the hub if none runs; on a campaign's private local cluster nobody could read a hub,
    so it only uses one that already exists (there is none) and otherwise stays silent.
    """

    def __init__(self, recorder: ResultsRecorder, campaign_id: str):
        self.recorder = recorder
        self.campaign_id = campaign_id
        self._levels: dict[str, list[dict[str, Any]]] = {}
        self._hub: Any = None
        self._unavailable = False

    # Tune pickles callbacks with the experiment state: keep the recorder (the same object in the
    # same pickle) and the id, never the actor handle.
    def __getstate__(self) -> dict[str, Any]:
        return {"recorder": self.recorder, "campaign_id": self.campaign_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _connect(self) -> Any:
        if self._hub is None and not self._unavailable:
            try:
                self._hub = get_hub(create=bool(os.environ.get("RAY_ADDRESS")))
            except Exception as err:  # no hub on a private cluster, or Ray refuses
                self._unavailable = True
                log.info("results hub not available, no live updates: %s", err)
        return self._hub

    def _send(self, method: Any, *args: Any) -> None:
        try:
            method.remote(*args)  # never ray.get: the campaign does not wait for the hub
        except Exception as err:
            self._unavailable, self._hub = True, None
            log.info("results hub gone, no more live updates: %s", err)

    def _push(self, trial_id: str) -> None:
        rec = self.recorder.trials.get(trial_id)
        hub = self._connect() if rec is not None else None
        if hub is not None:
            self._send(hub.push, self.campaign_id, rec.to_row(), self._levels.get(trial_id))

    def setup(self, **info: Any) -> None:
        # Runs after the recorder's setup, which reloaded the trials of a resumed campaign.
        hub = self._connect()
        if hub is not None:
            self._send(hub.begin, self.campaign_id, [rec.to_row() for rec in self.recorder.trials.values()],
                       str(Path(self.recorder.folder).resolve()))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self.recorder.ended_before(trial.trial_id):  # one that did keeps the levels it has
            self._levels[trial.trial_id] = []
        self._push(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        rec = self.recorder.trials.get(trial.trial_id)
        report = TrialReport.from_tune(result)
        if report.measured is not None and rec is not None:
            row = LevelRow.from_report(trial.trial_id, rec.config, report).to_row()
            self._levels.setdefault(trial.trial_id, []).append(row)
        self._push(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push(trial.trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for trial_id, rec in self.recorder.trials.items():
            if rec.status == TrialStatus.INTERRUPTED:
                self._push(trial_id)


__all__ = ["HUB_NAME", "HUB_NAMESPACE", "HubFeed", "HubState", "ResultsHub", "get_hub"]
