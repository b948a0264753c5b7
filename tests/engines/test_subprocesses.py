"""Children started with die_with_parent() die with their parent, even one killed by SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import psutil

from autotuner.engines.subprocesses import PACKAGE_ROOT

# A "trial worker" that starts a long-running child the way the backends do, prints its pid, waits.
WORKER = """
import subprocess, sys, time
from autotuner.engines.subprocesses import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True, preexec_fn=die_with_parent())
print(child.pid, flush=True)
time.sleep(600)
"""


def test_child_dies_when_its_parent_is_killed():
    worker = subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)})
    child = psutil.Process(int(worker.stdout.readline()))
    assert child.is_running()

    worker.send_signal(signal.SIGKILL)
    worker.wait()

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not child.is_running() or child.status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    else:
        child.kill()
        raise AssertionError("the child outlived its parent")
