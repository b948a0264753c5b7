"""templates/rbac.yaml grants exactly the calls the tuner makes: every (verb, resource) the
stand-in API server sees during a trial's lifecycle in each mode, and nothing more."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from autotuner.bench.request import LevelRequest
from autotuner.bench.ome_benchmarkjob import BenchmarkJobSettings, run_benchmark_job
from autotuner.engines.base import EngineStartError
from autotuner.engines.ome import gc_campaign
from autotuner.k8s.api import NamespacedApi, make_api_client
from autotuner.k8s.names import trial_resource_name
from tests.k8s.conftest import (
    CAMPAIGN,
    NAMESPACE,
    leftovers,
    make_engine,
    trial_request,
)
from tests.k8s.test_ome_api_key import KEY, SECRET, put_secret
from tests.k8s.test_ome_benchmarkjob import copying

RBAC = Path(__file__).resolve().parents[2] / "templates" / "rbac.yaml"


def rbac_documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RBAC.read_text())}


def granted() -> set[tuple[str, str]]:
    return {(verb, resource) for rule in rbac_documents()["Role"]["rules"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def test_role_binding_ties_the_service_account_to_the_role():
    docs = rbac_documents()
    assert set(docs) == {"ServiceAccount", "Role", "RoleBinding"}  # no cluster-scoped read is needed
    assert docs["RoleBinding"]["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    [subject] = docs["RoleBinding"]["subjects"]
    assert (subject["name"], subject["namespace"]) == (docs["ServiceAccount"]["metadata"]["name"],
                                                        docs["ServiceAccount"]["metadata"]["namespace"])
    assert {d["metadata"]["namespace"] for d in docs.values()} == {NAMESPACE}


def test_the_role_grants_exactly_what_the_tuner_uses(settings, apiserver, controller, tmp_path, genai_bench_results):
    # Ready trial benchmarked by a BenchmarkJob, a crashing trial (pod log), an unresolvable one
    # (events), the API key of engine.api_key.secret_name, then a sweep of the campaign.
    engine = make_engine(settings, controller)
    controller.bench_command = copying(genai_bench_results.c1)
    api = NamespacedApi(make_api_client(settings.kubeconfig), NAMESPACE)
    bench = BenchmarkJobSettings(pvc_name="results", results_mount=str(controller.pvc_root / "results"),
                                 poll_interval_s=0.05, watch_timeout_s=1)
    with engine.deploy(trial_request(tmp_path)):
        run_benchmark_job(api, LevelRequest("D(100,100)", 1, 10), bench, level_number=1, campaign_id=CAMPAIGN,
                          trial_id="t0001", isvc_name=trial_resource_name(CAMPAIGN, "t0001"))
    controller.command = lambda isvc, port: [sys.executable, "-c", "raise SystemExit(1)"]
    with pytest.raises(EngineStartError):
        with engine.deploy(trial_request(tmp_path, "t0002")):
            pass
    controller.behaviour = "warning_event"
    with pytest.raises(EngineStartError):
        with engine.deploy(trial_request(tmp_path, "t0003")):
            pass
    put_secret(apiserver)
    assert api.secret_value(*SECRET) == KEY
    gc_campaign(settings, CAMPAIGN)

    used = {(r.verb, r.resource) for r in apiserver.requests}
    assert used == granted()
    assert leftovers(apiserver, controller) == []
