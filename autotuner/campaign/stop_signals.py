"""How a campaign driver reacts to SIGTERM (``ray job stop``, the web app's Stop, Kubernetes) and
SIGINT (Ctrl-C), at every point of its life::

    with StopSignals(on_stop=mark_stopped) as stop:
        connect()                  # starting: a signal raises CampaignStopped here
        stop.reinstall()           # ray.init replaces the SIGTERM handler with its own
        with stop.tuning():
            tuner.fit()            # tuning: a signal asks Tune for its graceful stop
        ...                        # finishing: a signal is noted, the wrap-up goes on

While Tune runs, a stop is forwarded as SIGUSR1, Tune's own stop signal: Tune leaves its loop,
saves the experiment state (what ``--resume`` restores) at once, and then stops the trials, whose
``cleanup`` tears their engines down. ``ray job stop`` SIGKILLs the driver
``RAY_JOB_STOP_WAIT_TIME_S`` (3 s by default) after SIGTERM: the state is saved within that
window; what is left of the wrap-up then dies with the driver (Ray kills the job's trial actors,
and their engine processes die with them). ``on_stop`` runs first, so campaign.json says
"stopped" even then. A second signal while Tune stops its trials aborts that wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Tune installs its own SIGINT handler in fit() unless told not to; ours forwards to SIGUSR1.
_TUNE_SIGINT_VAR = "TUNE_DISABLE_SIGINT_HANDLER"


class CampaignStopped(BaseException):
    """A stop signal arrived while the campaign was starting (a BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it)."""

    def __init__(self, signal_name: str):
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name


class StopSignals:
    """SIGTERM/SIGINT handling of a campaign driver (see the module's docstring). Does nothing
    outside the main thread, where Python cannot install signal handlers."""

    def __init__(self, on_stop: Callable[[str], None]):
        self.on_stop = on_stop
        self.received: str | None = None
        self._phase = "starting"
        self._forwarded = False
        self._saved: dict[int, object] = {}
        self._saved_env: str | None = None
        self._active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> "StopSignals":
        if self._active:
            self._saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
            self._saved_env = os.environ.get(_TUNE_SIGINT_VAR)
            os.environ[_TUNE_SIGINT_VAR] = "1"
            self.reinstall()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            for sig, handler in self._saved.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
            if self._saved_env is None:
                os.environ.pop(_TUNE_SIGINT_VAR, None)
            else:
                os.environ[_TUNE_SIGINT_VAR] = self._saved_env

    def reinstall(self) -> None:
        """Install the handlers again (after code that replaced them, such as ray.init)."""
        if self._active:
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._handle)

    @contextlib.contextmanager
    def tuning(self) -> Iterator[None]:
        """The span of ``tuner.fit()``: stops become Tune's graceful stop."""
        if self.received:
            raise CampaignStopped(self.received)
        self._phase = "tuning"
        try:
            yield
        finally:
            self._phase = "finishing"

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        first = self.received is None
        self.received = self.received or name
        if first:
            try:
                self.on_stop(name)
            except OSError:  # the record of the stop is a courtesy; stopping is what matters
                pass
        if self._phase == "starting":
            raise CampaignStopped(name)
        if self._phase == "tuning":
            if self._forwarded:
                raise CampaignStopped(name)
            self._forwarded = True
            os.kill(os.getpid(), signal.SIGUSR1)


__all__ = ["CampaignStopped", "StopSignals"]
