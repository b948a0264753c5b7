"""Wall-clock OpenAI-compatible HTTP server driven by the simulator (a simulator, not the engine).

    python -m autotuner.sim.server --sim-engine sglang --sim-model Llama-3.1-8B --sim-gpu H100 -- \\
        --model-path /tmp/tok --served-model-name demo --tp-size 1 --port 30000
    python -m autotuner.sim.server --sim-engine vllm --sim-model Llama-3.1-8B --sim-gpu H100 -- \\
        /tmp/tok --served-model-name demo --tensor-parallel-size 1 --port 8000

The server arguments after ``--`` are checked by the engine version's recorded parser (see
:mod:`autotuner.sim.args`). It plans memory like the engine (and exits with the engine's error when
the config cannot start), sleeps the modelled start-up time times ``--sim-startup-scale``, then
serves ``GET /health``, ``GET /v1/models``, ``GET /get_server_info`` (the simulator's plan), ``GET /sim/lag``,
``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming SSE with a usage chunk, or
plain JSON); as SGLang, also ``GET /health_generate`` and ``GET /get_model_info``. A request the
engine's OpenAI protocol would refuse (no ``messages``, ``max_tokens: 1e400``, ``stream_options``
not an object) gets 400 with an OpenAI-style error naming the field. ``GET /metrics`` answers in
Prometheus' text format under the engine's own names (vLLM always, SGLang with ``--enable-metrics``
as SGLang does): running and waiting requests, KV cache usage, prompt and generated tokens,
finished requests, preemptions (:mod:`autotuner.sim.metrics`). Each dp replica is an
:class:`~autotuner.sim.engine.EngineCore` whose steps are slept in real time
(:mod:`autotuner.sim.replica`). With ``--api-key`` every route but ``/health*`` and ``/metrics``
answers 401 without ``Authorization: Bearer <key>``, like the engines' API-key middleware.
An argv the engine refuses before it starts (SGLang's ``check_server_args``, vLLM's config checks)
ends the simulator the same way, before it listens.

A starved host (other processes on the CPUs) makes every step end later than the model says;
``GET /sim/lag`` answers how far the replicas fell behind (:mod:`autotuner.sim.replica`), and
``--sim-host-stall S`` blocks the process S seconds after each step, a starved host made on
purpose (tests).

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
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from autotuner.sim.args import SimServerArgs, parse_argv
from autotuner.sim.engine import ADMISSION_LATENCY_S, RequestRejected, SimRequest
from autotuner.sim.memory import MemoryPlan, StartupFailure, plan_memory
from autotuner.sim.metrics import EngineMetrics
from autotuner.sim.replica import Replica, Stream
from autotuner.sim.requests import CHAT, TEXT, Api, BadRequest, parse_generation_request
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
        """The engines' check: /health* (probes) and /metrics (scrapers) stay open; the rest needs the
        exact bearer header."""
        key = self.args.api_key
        if key and not request.path.startswith(("/health", "/metrics")) and not hmac.compare_digest(
                request.headers.get("Authorization", "").encode(), f"Bearer {key}".encode()):
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self.require_api_key])
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/get_server_info", self.server_info)
        app.router.add_get("/sim/lag", self.lag)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completion)
        if self.args.engine == "sglang":
            app.router.add_get("/health_generate", self.health)
            app.router.add_get("/get_model_info", self.model_info)
        if self.args.enable_metrics:
            app.router.add_get("/metrics", self.metrics)
        return app

    def start_engine(self, plan: MemoryPlan) -> None:
        self.plan = plan
        self.replicas = [Replica(plan, self.args.sim_seed * 1000 + i, self.crash, self.args.sim_host_stall)
                         for i in range(self.args.dp_size)]
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

    async def lag(self, _request: web.Request) -> web.Response:
        """How far the replicas fell behind their modelled schedule since start-up (seconds, summed
        over replicas), beside the modelled step time: counters, read before and after a level."""
        return web.json_response({"lag_s": sum(r.lag_s for r in self.replicas),
                                  "late_s": sum(r.late_s for r in self.replicas),
                                  "busy_s": sum(r.core.stats.busy_s for r in self.replicas),
                                  "first_tokens": sum(r.first_tokens for r in self.replicas),
                                  "steps": sum(r.steps for r in self.replicas), "replicas": len(self.replicas)})

    async def model_info(self, _request: web.Request) -> web.Response:
        return web.json_response({"model_path": self.args.model_path, "served_model_name": self.model_name,
                                  "is_generation": True, "simulated_model": self.args.sim_model})

    async def metrics(self, _request: web.Request) -> web.Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(EngineMetrics(self.args.engine, self.model_name, self.replicas))
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
        error = {"message": message, "type": kind, "param": param, "code": status}
        return web.json_response({"object": "error", **error, "error": error}, status=status)

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
        try:
            wanted = parse_generation_request(body, api.chat)
        except BadRequest as exc:
            return self._error(400, str(exc), "BadRequestError", exc.param)
        model = body.get("model")
        if model is not None and model != self.model_name:
            return self._error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
        tokens = wanted.prompt_tokens or self.tokenize(wanted.prompt) or (0,)  # an empty prompt still takes one token
        rid = api.id_prefix + uuid.uuid4().hex[:24]
        stream = Stream(SimRequest(rid, len(tokens), wanted.max_tokens, tokens=tokens))
        await asyncio.sleep(ADMISSION_LATENCY_S)  # tokenizer manager -> scheduler hop
        replica = self.replicas[self.rr % len(self.replicas)]
        self.rr += 1
        try:
            replica.submit(stream)
        except RequestRejected as exc:
            return self._error(400, str(exc), "BadRequestError")
        try:
            if wanted.stream:
                return await self._stream(request, stream, rid, wanted.include_usage, api, replica)
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
                      api: Api, replica: Replica) -> web.StreamResponse:
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
                if last_write == -math.inf and stream.first_due is not None:
                    replica.first_token_written(loop.time() - stream.first_due)
                last_write = loop.time()
            if stream.finished:
                break
        await resp.write_eof()
        return resp


def _text(start: int, n: int) -> str:
    return "".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n))


# --- process -----------------------------------------------------------------------------------------
def startup_failed(args: SimServerArgs, exc: StartupFailure) -> int:
    """Print the engine's error as it would end; returns its exit status."""
    print(f"[sim] start-up failed (simulated {args.engine} {args.engine_version}, phase {exc.phase}):\n"
          f"{exc.message}", file=sys.stderr, flush=True)
    return exc.exit_code


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
            return startup_failed(a, exc)
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
    try:
        plan_memory(args)
    except StartupFailure as exc:
        if exc.phase == "args":  # the engine refuses these before it listens or touches a GPU
            sys.exit(startup_failed(shown, exc))
    sys.exit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
