"""engine.api_key on the local backend: the engine gets ``--api-key``, and neither its log header,
what it printed itself, nor a failure reason keeps the key."""

from __future__ import annotations

import json
import sys

import pytest

from autotuner.engines.base import EngineStartError
from autotuner.engines.local import LocalEngineSettings, LocalProcessEngine
from tests.engines.test_local import fake_engine, get, request_for

KEY = "sk-local-3b9f0c2d"


def test_the_engine_gets_the_key_and_its_log_does_not_keep_it(tmp_path):
    engine = fake_engine("serve", "--print-args", api_key=KEY)
    request = request_for(tmp_path)
    with engine.deploy(request) as server:
        argv = json.loads(get(server.base_url + "/info"))["argv"]
        assert argv[argv.index("--api-key") + 1] == KEY
        assert KEY not in json.dumps(server.info) and KEY not in repr(engine.settings)
    log = (request.work_dir / "engine.log").read_text()
    assert "'--api-key', '***'" in log and "server_args=" in log  # the header, and what the engine printed
    assert KEY not in log


def test_a_start_up_failure_that_shows_the_key_is_redacted(tmp_path):
    """A server that does not know --api-key says so with its argv, as argparse does."""
    refuses = [sys.executable, "-c", "import sys; sys.exit('error: unrecognized arguments: ' + ' '.join(sys.argv[1:]))"]
    engine = LocalProcessEngine(LocalEngineSettings(command=refuses, api_key=KEY, ready_timeout_s=20,
                                                    poll_interval_s=0.05, stop_grace_s=2))
    request = request_for(tmp_path)
    with pytest.raises(EngineStartError) as caught:
        with engine.deploy(request):
            pytest.fail("must not start")
    text = f"{caught.value.reason}\n{caught.value.log_tail}"
    assert "unrecognized arguments" in caught.value.reason and "--api-key ***" in text and KEY not in text
    assert KEY not in (request.work_dir / "engine.log").read_text()


@pytest.mark.parametrize("command", ["simulator", "engine", ["my-server"]])
def test_every_kind_of_engine_gets_the_key_and_only_when_there_is_one(tmp_path, command):
    def argv(key: str | None) -> list[str]:
        settings = LocalEngineSettings(command=command, model_path="/models/m", api_key=key)
        return LocalProcessEngine(settings).command_for(request_for(tmp_path), 8000)

    keyed = argv(KEY)
    assert keyed[keyed.index("--api-key") + 1] == KEY
    assert "--api-key" not in argv(None)
