"""Fixtures of the Kubernetes tests: a stand-in API server (real HTTP) and OME controller, the
real ``kubernetes`` client pointed at them through a kubeconfig file, and fast timings."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import pytest

from autotuner.engines.base import DeployRequest
from autotuner.engines.ome import InferenceServiceEngine, OmeEngineSettings
from tests.k8s.standin import FakeApiServer, FakeOmeController, tiny_engine_command

NAMESPACE = "autotune"
CAMPAIGN = "sweep"


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)


@pytest.fixture
def controller(apiserver: FakeApiServer, tmp_path: Path) -> Iterator[FakeOmeController]:
    """OME's stand-in, running the tiny engine (fast start) for every InferenceService."""
    log_dir = tmp_path / "engines"
    log_dir.mkdir()
    ome = FakeOmeController(apiserver, log_dir, command=tiny_engine_command).start()
    yield ome
    ome.stop()


@pytest.fixture
def settings(kubeconfig: Path) -> OmeEngineSettings:
    """Production settings with test-sized timings."""
    return OmeEngineSettings(
        namespace=NAMESPACE, model_name="llama-3-2-1b", runtime_name="srt-llama-3-2-1b",
        kubeconfig=str(kubeconfig), ready_timeout_s=20, failure_grace_s=0, watch_timeout_s=1,
        endpoint_timeout_s=5, delete_timeout_s=10, poll_interval_s=0.05,
        api_retries=3, api_backoff_s=0.01, api_backoff_max_s=0.05)


@pytest.fixture
def engine(settings: OmeEngineSettings, controller: FakeOmeController) -> InferenceServiceEngine:
    return InferenceServiceEngine(settings, url_resolver=controller.url_for)


def make_engine(settings: OmeEngineSettings, controller: FakeOmeController | None, **changes) -> InferenceServiceEngine:
    """The engine with some settings changed, its URLs mapped to the controller's local ports."""
    return InferenceServiceEngine(dataclasses.replace(settings, **changes),
                                  url_resolver=controller.url_for if controller is not None else None)


def trial_request(tmp_path: Path, trial_id: str = "t0001", **engine_args) -> DeployRequest:
    return DeployRequest(campaign_id=CAMPAIGN, trial_id=trial_id,
                         engine_args=engine_args or {"tp_size": 2, "mem_fraction_static": 0.85},
                         served_model_name="llama-tuned", work_dir=tmp_path / trial_id)


def leftovers(apiserver: FakeApiServer, controller: FakeOmeController | None = None) -> list[str]:
    """Everything a trial could leak: objects in the namespace and engine processes."""
    found = [f"{plural}/{obj['metadata']['name']}"
             for plural in ("inferenceservices", "benchmarkjobs", "pods")
             for obj in apiserver.objects(plural, NAMESPACE)]
    if controller is not None:
        found += [f"process {p.pid}" for p in controller.running_processes()]
    return found
