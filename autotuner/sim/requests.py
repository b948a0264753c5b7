"""What the simulated server takes from an OpenAI-compatible request: the chat or completion
body checked as the engines check it (a 400 naming the field otherwise), and the API it came by.

>>> parse_generation_request({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}, chat=True).max_tokens
8
>>> parse_generation_request({"max_tokens": 8}, chat=True)
Traceback (most recent call last):
...
autotuner.sim.requests.BadRequest: messages: Field required: a non-empty array of message objects
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_TOKENS = 128  # SGLang's default max_new_tokens


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


class BadRequest(ValueError):
    """A request the engine's OpenAI protocol refuses: HTTP 400 naming ``param``."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class GenerationRequest:
    """What the simulator takes from a chat or completion request body."""

    prompt: str
    prompt_tokens: tuple[int, ...] | None  # given as token ids: no text to tokenize
    max_tokens: int
    stream: bool
    include_usage: bool


def parse_generation_request(body: dict[str, Any], chat: bool) -> GenerationRequest:
    """The fields of a request body, checked as the engines' protocol models check them;
    :class:`BadRequest` names the first field they refuse."""
    prompt_tokens = None
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise BadRequest("messages", "messages: Field required: a non-empty array of message objects"
                             if messages is None else "messages: must be a non-empty array of message objects")
        prompt = prompt_text(messages)
    else:
        raw = body.get("prompt")
        if isinstance(raw, list) and raw and all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
            prompt, prompt_tokens = "", tuple(raw)  # token ids
        elif isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw)):
            prompt = completion_prompt(raw)
        else:
            raise BadRequest("prompt", "prompt: Field required: a string, an array of strings or of token ids"
                             if raw is None else "prompt: must be a string, an array of strings or of token ids")
    name = "max_tokens" if body.get("max_tokens") is not None else "max_completion_tokens"
    value = body.get(name)
    if value is None:
        max_tokens = DEFAULT_MAX_TOKENS
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise BadRequest(name, f"{name}: must be a valid integer, not {json.dumps(value)[:40]}")
    elif value < 1:
        raise BadRequest(name, f"{name}: must be at least 1, got {int(value)}")
    else:
        max_tokens = int(value)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream", "stream: must be a boolean")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("stream_options", "stream_options: must be an object, e.g. {\"include_usage\": true}")
    if options is not None and not stream:
        raise BadRequest("stream_options", "stream_options: Stream options can only be defined when `stream=True`.")
    include_usage = (options or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise BadRequest("stream_options.include_usage", "stream_options.include_usage: must be a boolean")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model", "model: must be a string")
    return GenerationRequest(prompt, prompt_tokens, max_tokens, bool(stream), bool(include_usage))


@dataclass(frozen=True)
class Api:
    """How one OpenAI endpoint names its responses."""

    chat: bool
    id_prefix: str
    object: str
    chunk_object: str


CHAT = Api(True, "chatcmpl-", "chat.completion", "chat.completion.chunk")
TEXT = Api(False, "cmpl-", "text_completion", "text_completion")


__all__ = ["CHAT", "DEFAULT_MAX_TOKENS", "TEXT", "Api", "BadRequest", "GenerationRequest", "completion_prompt",
           "parse_generation_request", "prompt_text"]
