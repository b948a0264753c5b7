"""Wall-clock OpenAI-compatible HTTP server driven by the simulator (a simulator, not the engine).

    python -m autotuner.sim.server --sim-engine sglang --sim-model Llama-3.1-8B --sim-gpu H100 -- \\
        --model-path /tmp/tok --served-model-name demo --tp-size 1 --port 30000
    python -m autotuner.sim.server --sim-engine vllm --sim-model Llama-3.1-8B --sim-gpu H100 -- \\
        /tmp/tok --served-model-name demo --tensor-parallel-size 1 --port 8000

The server arguments after ``--`` are checked by the engine version's recorded parser (see
:mod:`autotuner.sim.args`). It plans memory like the engine (and exits with the engine's error when
the config cannot start), sleeps the modelled start-up time times ``--sim-startup-scale``, then
serves ``GET /health``, ``GET /v1/models``, ``GET /get_server_info`` (the simulator's plan),
``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming SSE with a usage chunk, or
plain JSON); as SGLang, also ``GET /health_generate`` and ``GET /get_model_info``. Each dp replica is
an :class:`~autotuner.sim.engine.EngineCore` whose steps are slept in real time. With
``--api-key`` every route but ``/health*`` answers 401 without ``Authorization: Bearer <key>``,
like SGLang's API-key middleware.

Every request generates exactly ``max_tokens`` tokens (genai-bench's sglang/vllm backends send
``ignore_eos``). To keep CPU low on small machines a stream writes at most one SSE chunk per
``--sim-stream-interval`` seconds (first token and the end are sent at once); genai-bench takes
token counts from ``usage`` so TTFT and TPOT are unaffected.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import signal
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from autotuner.sim.args import SimServerArgs, parse_argv
from autotuner.sim.engine import (
    ADMISSION_LATENCY_S,
    EngineCore,
    RequestRejected,
    SimRequest,
    StepOutcome,
)
from autotuner.sim.memory import MemoryPlan, StartupFailure, plan_memory

DEFAULT_MAX_TOKENS = 128  # SGLang's default max_new_tokens
RESYNC_S = 0.05  # if the event loop falls this far behind the modelled clock, stop catching up
_WORDS = (" the", " model", " is", " a", " simulated", " token", " stream", " of", " text", " here")


def log(msg: str) -> None:
    print(f"[sim {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- prompt tokens ----------------------------------------------------------------------------------
def make_tokenizer(args: SimServerArgs) -> Callable[[str], tuple[int, ...]]:
    """The prompt's token ids (what the prefix cache matches on) with tokenizer.json from
    --tokenizer-path or a --model-path folder, else one id per 4 characters (a checksum of them)."""
    for candidate in (args.tokenizer_path, args.model_path):
        if not candidate:
            continue
        path = Path(candidate)
        file = path / "tokenizer.json" if path.is_dir() else path
        if file.name == "tokenizer.json" and file.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(file))
            log(f"tokenizing prompts with {file}")
            return lambda text: tuple(tok.encode(text, add_special_tokens=False).ids)
    log("no tokenizer.json found: one token per 4 characters of the prompt")
    return lambda text: tuple(zlib.crc32(text[i:i + 4].encode()) for i in range(0, len(text), 4))


def prompt_text(messages: Any) -> str:
    """The text of chat messages (string contents and text parts), joined."""
    parts: list[str] = []
    for m in messages or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
    return "\n".join(parts)


def completion_prompt(prompt: Any) -> str:
    """The text of a /v1/completions prompt: a string or a list of strings, joined."""
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    return prompt if isinstance(prompt, str) else ""


@dataclass(frozen=True)
class Api:
    """How one OpenAI endpoint names its responses."""

    chat: bool
    id_prefix: str
    object: str
    chunk_object: str


CHAT = Api(True, "chatcmpl-", "chat.completion", "chat.completion.chunk")
TEXT = Api(False, "cmpl-", "text_completion", "text_completion")


# --- streams and replicas ----------------------------------------------------------------------------
class Stream:
    """Tokens produced for one request, waiting to be written to its HTTP response."""

    def __init__(self, req: SimRequest):
        self.req = req
        self.pending = 0
        self.total = 0
        self.finished = False
        self.new = asyncio.Event()
        self.done = asyncio.Event()

    def push(self, n: int, finished: bool) -> None:
        self.pending += n
        self.total += n
        self.new.set()
        if finished:
            self.finished = True
            self.done.set()


class Replica:
    """One dp replica: an EngineCore stepped in real time by an asyncio task."""

    def __init__(self, plan: MemoryPlan, seed: int, on_crash: Callable[[BaseException], None]):
        self.core = EngineCore(plan, seed=seed)
        self.on_crash = on_crash
        self.streams: dict[Any, Stream] = {}
        self.wake = asyncio.Event()
        self.steps = 0

    def submit(self, stream: Stream) -> None:
        self.core.add(stream.req)  # may raise RequestRejected
        self.streams[stream.req.rid] = stream
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
                self.wake.clear()
                await self.wake.wait()
                deadline = None
                continue
            now = loop.time()
            # Start where the previous step ended on the modelled clock, so sleep overshoot does
            # not accumulate; resync when the process was starved for longer than that.
            start = now if deadline is None or now - deadline > RESYNC_S else deadline
            out = self.core.step(start)
            if out is None:
                deadline = None
                continue
            deadline = start + out.duration
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.steps += 1
            self._dispatch(out)

    def _dispatch(self, out: StepOutcome) -> None:
        finished = set(out.finished)
        for rid, n in out.tokens.items():
            stream = self.streams.get(rid)
            if stream is not None:
                stream.push(n, rid in finished)
        for rid in finished:
            self.streams.pop(rid, None)


# --- HTTP ----------------------------------------------------------------------------------------------
class SimServer:
    def __init__(self, args: SimServerArgs):
        self.args = args.resolved()
        self.plan: MemoryPlan | None = None
        self.ready = False
        self.replicas: list[Replica] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.rr = 0
        self.tokenize: Callable[[str], tuple[int, ...]] = lambda text: ()
        self.model_name = str(self.args.served_model_name)
        self.stop = asyncio.Event()
        self.exit_code = 0

    def crash(self, exc: BaseException) -> None:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
        print("[sim] simulated scheduler crashed; shutting down", file=sys.stderr, flush=True)
        self.exit_code = 1
        self.stop.set()

    @web.middleware
    async def require_api_key(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """The engines' check: /health* stays open (probes); the rest needs the exact bearer header."""
        key = self.args.api_key
        if key and not request.path.startswith("/health") and not hmac.compare_digest(
                request.headers.get("Authorization", "").encode(), f"Bearer {key}".encode()):
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self.require_api_key])
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/get_server_info", self.server_info)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completion)
        if self.args.engine == "sglang":
            app.router.add_get("/health_generate", self.health)
            app.router.add_get("/get_model_info", self.model_info)
        return app

    def start_engine(self, plan: MemoryPlan) -> None:
        self.plan = plan
        self.replicas = [Replica(plan, self.args.sim_seed * 1000 + i, self.crash) for i in range(self.args.dp_size)]
        self.tasks = [asyncio.create_task(r.run()) for r in self.replicas]
        self.ready = True

    async def health(self, _request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(status=503, text="starting")
        return web.Response(text="")

    def _not_ready(self) -> web.Response:
        return web.json_response({"error": {"message": "The server is starting.", "code": 503}}, status=503)

    async def models(self, _request: web.Request) -> web.Response:
        if not self.ready:
            return self._not_ready()
        return web.json_response({"object": "list", "data": [{
            "id": self.model_name, "object": "model", "created": int(time.time()),
            "owned_by": f"{self.args.engine}-simulator", "root": self.args.model_path or self.model_name,
            "max_model_len": self.args.context_length}]})

    async def server_info(self, _request: web.Request) -> web.Response:
        args = {k: v for k, v in self.args.to_dict().items() if k != "api_key"}
        info: dict[str, Any] = {"simulator": True, **args, "ready": self.ready}
        if self.plan is not None:
            info["memory_plan"] = self.plan.to_dict()
            info["max_total_num_tokens"] = self.plan.kv_tokens
            info["max_running_requests"] = self.plan.max_running_requests
            info["replicas"] = [{"waiting": len(r.core.waiting), "running": len(r.core.running),
                                 "kv_used": r.core.kv_used, "steps": r.steps,
                                 "retractions": r.core.stats.retractions,
                                 "cached_prompt_tokens": r.core.stats.cached_prompt_tokens,
                                 "prefix_cache_tokens": r.core.prefix_cache.size if r.core.prefix_cache else 0}
                                for r in self.replicas]
        return web.json_response(info)

    async def model_info(self, _request: web.Request) -> web.Response:
        return web.json_response({"model_path": self.args.model_path, "served_model_name": self.model_name,
                                  "is_generation": True, "simulated_model": self.args.sim_model})

    @staticmethod
    def _error(status: int, message: str, kind: str) -> web.Response:
        return web.json_response({"object": "error", "message": message, "type": kind, "code": status,
                                  "error": {"message": message, "type": kind, "code": status}}, status=status)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, CHAT)

    async def completion(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, TEXT)

    async def _generate(self, request: web.Request, api: Api) -> web.StreamResponse:
        if not self.ready:
            return self._not_ready()
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")  # noqa: TRY004 - answered as HTTP 400
        except (ValueError, json.JSONDecodeError) as exc:
            return self._error(400, f"invalid JSON body: {exc}", "BadRequestError")
        model = body.get("model")
        if model is not None and model != self.model_name:
            return self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
        try:
            max_tokens = int(max_tokens)
        except (TypeError, ValueError):
            return self._error(400, "max_tokens must be an integer", "BadRequestError")
        if max_tokens < 1:
            return self._error(400, "max_tokens must be at least 1", "BadRequestError")
        prompt = prompt_text(body.get("messages")) if api.chat else completion_prompt(body.get("prompt"))
        tokens = self.tokenize(prompt) or (0,)  # an empty prompt still takes one token
        rid = api.id_prefix + uuid.uuid4().hex[:24]
        stream = Stream(SimRequest(rid, len(tokens), max_tokens, tokens=tokens))
        await asyncio.sleep(ADMISSION_LATENCY_S)  # tokenizer manager -> scheduler hop
        replica = self.replicas[self.rr % len(self.replicas)]
        self.rr += 1
        try:
            replica.submit(stream)
        except RequestRejected as exc:
            return self._error(400, str(exc), "BadRequestError")
        try:
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return await self._stream(request, stream, rid, include_usage, api)
            await stream.done.wait()
            return web.json_response(self._completion(rid, stream, api))
        finally:
            if not stream.finished:
                replica.abort(rid)  # client went away: free the batch slot, as SGLang aborts

    def _usage(self, stream: Stream) -> dict[str, int]:
        n_in, n_out = stream.req.input_len, stream.total
        return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}

    def _completion(self, rid: str, stream: Stream, api: Api) -> dict[str, Any]:
        text = _text(0, stream.total)
        output = {"message": {"role": "assistant", "content": text}} if api.chat else {"text": text}
        return {"id": rid, "object": api.object, "created": int(time.time()), "model": self.model_name,
                "choices": [{"index": 0, **output, "finish_reason": "length"}],
                "usage": self._usage(stream)}

    async def _stream(self, request: web.Request, stream: Stream, rid: str, include_usage: bool,
                      api: Api) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        created = int(time.time())
        interval = self.args.sim_stream_interval
        written = 0
        last_write = -math.inf

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            output = {"delta": delta} if api.chat else {"text": delta.get("content", "")}
            obj = {"id": rid, "object": api.chunk_object, "created": created, "model": self.model_name,
                   "choices": [{"index": 0, **output, "finish_reason": finish}]}
            return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"

        while True:
            await stream.new.wait()
            stream.new.clear()
            wait = last_write + interval - loop.time()
            if written and not stream.finished and wait > 0:
                # Coalesce: let tokens pile up until the interval ends (or the request ends).
                try:
                    await asyncio.wait_for(stream.done.wait(), wait)
                except TimeoutError:
                    pass
                stream.new.clear()
            n, stream.pending = stream.pending, 0
            payload = ""
            if n:
                delta = {"role": "assistant", "content": _text(written, n)} if not written else {"content": _text(written, n)}
                payload += chunk(delta)
                written += n
            if stream.finished:
                payload += chunk({}, "length")
                if include_usage:
                    usage = {"id": rid, "object": api.chunk_object, "created": created,
                             "model": self.model_name, "choices": [], "usage": self._usage(stream)}
                    payload += "data: " + json.dumps(usage, separators=(",", ":")) + "\n\n"
                payload += "data: [DONE]\n\n"
            if payload:
                await resp.write(payload.encode())
                last_write = loop.time()
            if stream.finished:
                break
        await resp.write_eof()
        return resp


def _text(start: int, n: int) -> str:
    return "".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n))


# --- process -----------------------------------------------------------------------------------------
async def serve(args: SimServerArgs) -> int:
    """Bind, start up (modelled), serve until SIGTERM/SIGINT. Returns the exit status."""
    server = SimServer(args)
    a = server.args
    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, a.host, a.port, shutdown_timeout=1.0)
    try:
        await site.start()
    except OSError as exc:
        print(f"ERROR: cannot bind {a.host}:{a.port}: {exc}", file=sys.stderr, flush=True)
        await runner.cleanup()
        return 1
    log(f"HTTP listening on http://{a.host}:{a.port} (/health answers 503 until ready)")

    stop = server.stop
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def startup() -> int:
        scale = a.sim_startup_scale
        try:
            plan = plan_memory(a)
        except StartupFailure as exc:
            await asyncio.sleep(exc.after_s * scale)
            print(f"[sim] start-up failed (simulated {a.engine} {a.engine_version}, phase {exc.phase}):\n"
                  f"{exc.message}",
                  file=sys.stderr, flush=True)
            return exc.exit_code
        gib = plan.to_dict()
        await asyncio.sleep((plan.init_s + plan.load_s) * scale)
        log(f"Load weight end. model={plan.model.name} weights={gib['weights_gib']} GiB per GPU, "
            f"tp_size={a.tp_size}, dp_size={a.dp_size}")
        log(f"KV Cache is allocated. #tokens: {plan.kv_tokens}, {gib['kv_pool_gib']} GiB per GPU")
        log(f"attention backend: {a.attention_backend}, kv_cache_dtype={a.kv_cache_dtype}")
        for note in plan.notes:
            log(f"note: {note}")
        await asyncio.sleep(plan.cuda_graph_s * scale)
        if plan.capture_batch_sizes:
            log(f"Capture cuda graph end. bs up to {plan.cuda_graph_max_bs} "
                f"({len(plan.capture_batch_sizes)} graphs), mem usage={gib['cuda_graph_gib']} GiB")
        await asyncio.sleep(plan.warmup_s * scale)
        log(f"max_total_num_tokens={plan.kv_tokens}, chunked_prefill_size={a.chunked_prefill_size}, "
            f"max_prefill_tokens={a.max_prefill_tokens}, max_running_requests={plan.max_running_requests}, "
            f"context_len={a.context_length}")
        server.tokenize = make_tokenizer(a)
        server.start_engine(plan)
        log(f"The (simulated) server is ready to roll! modelled start-up {plan.startup_s:.1f} s x "
            f"scale {scale:g}")
        return 0

    start_task = asyncio.create_task(startup())
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({start_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if start_task.done() and start_task.result() != 0:
        code = start_task.result()
    elif not stop.is_set():
        await stop.wait()
    code = code or server.exit_code
    for task in (start_task, stop_task, *server.tasks):
        task.cancel()
    await runner.cleanup()
    if code == 0:
        log("shut down")
    return code


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_argv(sys.argv[1:] if argv is None else argv)
    try:
        args.validate()
        shown = args.resolved()
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    for warning in args.warnings:
        print(f"[sim] {args.engine} {args.engine_version} warns: {warning}", file=sys.stderr, flush=True)
    log(f"autotuner.sim: SIMULATED {shown.engine} {shown.engine_version} server (a simulator, not the "
        f"engine): model={shown.sim_model} gpu={shown.sim_gpu} tp_size={shown.tp_size} dp_size={shown.dp_size} "
        f"served_model_name={shown.served_model_name}")
    sys.exit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
