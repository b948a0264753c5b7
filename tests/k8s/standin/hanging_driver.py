"""A tuner driver that deploys one trial's engine and then hangs until it is killed, leaving its
InferenceService behind (``test_a_killed_driver_leaves_objects_that_gc_removes``).

    python hanging_driver.py KUBECONFIG NAMESPACE CAMPAIGN TRIAL ENDPOINT_URL
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from autotuner.engines.base import DeployRequest
from autotuner.engines.ome import InferenceServiceEngine, OmeEngineSettings


def main() -> None:
    kubeconfig, namespace, campaign, trial, endpoint = sys.argv[1:6]
    settings = OmeEngineSettings(namespace=namespace, model_name="llama-3-2-1b", runtime_name="srt-llama-3-2-1b",
                                 kubeconfig=kubeconfig, ready_timeout_s=20, failure_grace_s=0, watch_timeout_s=1)
    engine = InferenceServiceEngine(settings, url_resolver=lambda name, ns: endpoint)
    request = DeployRequest(campaign_id=campaign, trial_id=trial, engine_args={"tp_size": 1},
                            served_model_name="llama", work_dir=Path(tempfile.mkdtemp()))
    with engine.deploy(request):
        print("READY", flush=True)
        time.sleep(600)  # "benchmarking" until SIGKILL


if __name__ == "__main__":
    main()
