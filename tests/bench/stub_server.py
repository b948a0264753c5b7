"""A tiny OpenAI-compatible server that genai-bench can load, for the integration tests.

Run as a script: ``python stub_server.py`` with these environment variables:

  STUB_PORT (required)      STUB_MODEL ("stub-model")
  STUB_TTFT_MS (10)         delay before the first token
  STUB_ITL_MS (2)           delay between tokens
  STUB_ERROR_RATE (0.0)     share of chat requests answered with HTTP 500 (1.0: all of them)
  STUB_HANG (unset)         "1": accept chat requests but never answer them
  STUB_API_KEY (unset)      chat requests without ``Authorization: Bearer <it>`` get HTTP 401

``/health`` and ``/v1/models`` always answer, so a hung chat endpoint looks like a server that
started fine and then stopped making progress.
"""

import asyncio
import json
import os
import random
import time
import uuid

from aiohttp import web

PORT = int(os.environ["STUB_PORT"])
MODEL = os.environ.get("STUB_MODEL", "stub-model")
TTFT_S = float(os.environ.get("STUB_TTFT_MS", "10")) / 1000.0
ITL_S = float(os.environ.get("STUB_ITL_MS", "2")) / 1000.0
ERROR_RATE = float(os.environ.get("STUB_ERROR_RATE", "0.0"))
HANG = os.environ.get("STUB_HANG") == "1"
API_KEY = os.environ.get("STUB_API_KEY")


async def models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def chunk(cid: str, created: int, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if API_KEY and request.headers.get("Authorization") != f"Bearer {API_KEY}":
        return web.json_response({"error": {"message": "invalid API key"}}, status=401)
    if HANG:
        await asyncio.Event().wait()  # never set: the client waits until it gives up
    if random.random() < ERROR_RATE:
        return web.json_response({"error": {"message": "injected failure"}}, status=500)
    n_out = max(1, int(body.get("max_tokens") or 16))
    n_in = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    cid, created = "chatcmpl-" + uuid.uuid4().hex[:12], int(time.time())

    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)

    async def send(obj: object) -> None:
        payload = obj if isinstance(obj, str) else json.dumps(obj)
        await resp.write(f"data: {payload}\n\n".encode())

    try:
        await asyncio.sleep(TTFT_S)
        for i in range(n_out):
            if i:
                await asyncio.sleep(ITL_S)
            delta = {"role": "assistant", "content": " w"} if i == 0 else {"content": " w"}
            await send(chunk(cid, created, delta))
        await send(chunk(cid, created, {}, "length"))
        usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
        await send({"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                    "choices": [], "usage": usage})
        await send("[DONE]")
        await resp.write_eof()
    except ConnectionResetError:
        pass  # genai-bench drops the requests still in flight when a level ends
    return resp


def main() -> None:
    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=PORT, access_log=None, print=None)


if __name__ == "__main__":
    main()
