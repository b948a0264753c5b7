"""One dp replica of the simulated server: an :class:`~autotuner.sim.engine.EngineCore` stepped in
real time by an asyncio task, and the streams its steps fill (:mod:`autotuner.sim.server` writes
them to the HTTP responses).

Each step is slept for its modelled duration, starting where the previous one ended on the modelled
clock so that sleep overshoot does not accumulate.

A starved host (other processes on the CPUs) makes every step end later than the model says, and
so inflates the latencies the server is measured by. Each replica counts how far its steps fell
behind their modelled schedule for good (``lag_s``: a step more than ``RESYNC_S`` late, the last
step of a busy spell and the wake-up after an idle one, as they are never caught up), how much
later than the model had them ready the first tokens of streams were written (``late_s`` over
``first_tokens``: step lateness the schedule caught up after still delays them), and the modelled
step time (``busy_s``); ``GET /sim/lag`` answers the totals (counters since start-up), so
a benchmark reads them before and after a level and knows how much of the level the host took
(:mod:`autotuner.bench.host_lag`). ``host_stall_s`` blocks the process that long after each step,
a starved host made on purpose (tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from autotuner.sim.engine import EngineCore, SimRequest, StepOutcome
from autotuner.sim.memory import MemoryPlan

RESYNC_S = 0.05  # if the event loop falls this far behind the modelled clock, stop catching up


class Stream:
    """Tokens produced for one request, waiting to be written to its HTTP response."""

    def __init__(self, req: SimRequest):
        self.req = req
        self.pending = 0
        self.total = 0
        self.finished = False
        self.new = asyncio.Event()
        self.done = asyncio.Event()
        self.first_due: float | None = None  # when the model had its first token ready

    def push(self, n: int, finished: bool) -> None:
        self.pending += n
        self.total += n
        self.new.set()
        if finished:
            self.finished = True
            self.done.set()


class Replica:
    """One dp replica: an EngineCore stepped in real time by an asyncio task."""

    def __init__(self, plan: MemoryPlan, seed: int, on_crash: Callable[[BaseException], None],
                 host_stall_s: float = 0.0):
        self.core = EngineCore(plan, seed=seed)
        self.on_crash = on_crash
        self.host_stall_s = host_stall_s
        self.streams: dict[Any, Stream] = {}
        self.wake = asyncio.Event()
        self.woken_at: float | None = None  # when the first request after an idle spell came
        self.steps = 0
        # What the engines count for /metrics.
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.finished_requests = 0
        self.lag_s = 0.0  # how far the steps fell behind their modelled schedule, for good
        self.late_s = 0.0  # how much later than modelled the first tokens were written, summed
        self.first_tokens = 0

    def submit(self, stream: Stream) -> None:
        self.core.add(stream.req)  # may raise RequestRejected
        self.streams[stream.req.rid] = stream
        if not self.wake.is_set():
            self.woken_at = asyncio.get_running_loop().time()
        self.wake.set()

    def abort(self, rid: Any) -> None:
        if self.streams.pop(rid, None) is not None:
            self.core.abort(rid)

    async def run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a scheduler crash takes the server down, as in SGLang
            self.on_crash(exc)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            if not self.core.has_work():
                self._fell_behind(loop.time(), deadline)  # the last step's lateness is never caught up
                self.wake.clear()
                await self.wake.wait()
                self._fell_behind(loop.time(), self.woken_at)
                deadline = None
                continue
            now = loop.time()
            # Start where the previous step ended on the modelled clock, so sleep overshoot does
            # not accumulate; resync when the process was starved for longer than that.
            if deadline is not None and now - deadline > RESYNC_S:
                self._fell_behind(now, deadline)
                deadline = None
            start = now if deadline is None else deadline
            out = self.core.step(start)
            if out is None:
                deadline = None
                continue
            deadline = start + out.duration
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if self.host_stall_s:
                time.sleep(self.host_stall_s)  # noqa: ASYNC251 - blocks the loop on purpose: a starved host
            self.steps += 1
            self._dispatch(out, deadline)

    def first_token_written(self, late_s: float) -> None:
        self.late_s += max(0.0, late_s)
        self.first_tokens += 1

    def _fell_behind(self, now: float, due: float | None) -> None:
        if due is not None:
            self.lag_s += max(0.0, now - due)

    def _dispatch(self, out: StepOutcome, due: float) -> None:
        finished = set(out.finished)
        for rid, n in out.tokens.items():
            stream = self.streams.get(rid)
            if stream is not None:
                if not stream.total:
                    self.prompt_tokens += stream.req.input_len
                if stream.first_due is None:
                    stream.first_due = due
                stream.push(n, rid in finished)
            self.generated_tokens += n
        for rid in finished:
            self.streams.pop(rid, None)
        self.finished_requests += len(finished)


__all__ = ["RESYNC_S", "Replica", "Stream"]
