"""SGLang server arguments: one catalogue of the tunable flags and the argv built from a config.

Used by the local backend (the simulator accepts the same flags), the OME backend
(``spec.engine.runner.args``) and the results writer (the ready ``sglang.launch_server`` line).

>>> to_cli_flags({"tp_size": 2, "mem_fraction_static": 0.85, "disable_cuda_graph": False})
['--tp-size', '2', '--mem-fraction-static', '0.85']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class EngineParam:
    """One SGLang server parameter the tuner knows how to set."""

    name: str  # snake_case, as in SGLang's ServerArgs
    kind: str  # "int" | "float" | "bool" | "str"
    help: str
    choices: tuple[Any, ...] | None = None  # closed set of allowed values, if SGLang has one
    low: float | None = None  # inclusive bounds for numbers
    high: float | None = None
    low_exclusive: bool = False
    high_exclusive: bool = False
    allow_minus_one: bool = False  # -1 means "disabled" (chunked prefill)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not allowed for this parameter, or None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind == "str":
            if not isinstance(value, str):
                return "must be a string"
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be an integer"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if self.choices is not None and value not in self.choices:
            return "must be one of " + ", ".join(map(str, self.choices))
        if self.allow_minus_one and value == -1:
            return None
        if self.low is not None and (value < self.low or (self.low_exclusive and value == self.low)):
            return self.range_text()
        if self.high is not None and (value > self.high or (self.high_exclusive and value == self.high)):
            return self.range_text()
        return None

    def range_text(self) -> str:
        lo = "(" if self.low_exclusive else "["
        hi = ")" if self.high_exclusive else "]"
        text = f"must be in {lo}{self.low}, {'inf' if self.high is None else self.high}{hi}"
        return text + (" or -1 (disabled)" if self.allow_minus_one else "")


_PARAMS = [
    EngineParam("tp_size", "int", "Tensor parallel size: GPUs one model replica is split over.", low=1, high=64),
    EngineParam("dp_size", "int", "Data parallel size: model replicas behind one server.", low=1, high=64),
    EngineParam("mem_fraction_static", "float",
                "Fraction of GPU memory for weights and the KV cache pool; the rest holds activations and CUDA graphs.",
                low=0.0, high=1.0, low_exclusive=True, high_exclusive=True),
    EngineParam("max_running_requests", "int", "Most requests decoded at once (batch size cap).", low=1),
    EngineParam("chunked_prefill_size", "int",
                "Most prompt tokens prefilled in one step; -1 disables chunking.", low=1, allow_minus_one=True),
    EngineParam("max_prefill_tokens", "int", "Token budget of one prefill batch.", low=1),
    EngineParam("schedule_policy", "str", "Order in which waiting requests are admitted.",
                choices=("lpm", "random", "fcfs", "dfs-weight")),
    EngineParam("schedule_conservativeness", "float",
                "Higher reserves more KV room for running requests (fewer retractions, smaller batches).",
                low=0.0, high=10.0, low_exclusive=True),
    EngineParam("cuda_graph_max_bs", "int", "Largest decode batch captured as a CUDA graph.", low=1, high=4096),
    EngineParam("disable_cuda_graph", "bool", "Run decode without CUDA graphs (slower steps, less memory)."),
    EngineParam("kv_cache_dtype", "str", "Data type of the KV cache; fp8 halves its size.",
                choices=("auto", "fp8_e5m2", "fp8_e4m3")),
    EngineParam("enable_mixed_chunk", "bool", "Mix prefill chunks into decode batches."),
    EngineParam("disable_radix_cache", "bool", "Turn off prefix caching."),
]

ENGINE_PARAMS: dict[str, EngineParam] = {p.name: p for p in _PARAMS}


def to_cli_flags(engine_args: Mapping[str, Any]) -> list[str]:
    """SGLang argv for a config: ``--name value`` pairs, store_true flags only when true.

    Values are passed as separate argv items, never joined into a shell string.
    """
    argv: list[str] = []
    for name, value in engine_args.items():
        param = ENGINE_PARAMS.get(name)
        if param is None:
            raise KeyError(f"unknown engine parameter {name!r}; known: {', '.join(ENGINE_PARAMS)}")
        if param.kind == "bool":
            if value:
                argv.append(param.flag)
            continue
        argv += [param.flag, str(value)]
    return argv


def launch_command(
    model_path: str,
    engine_args: Mapping[str, Any],
    *,
    served_model_name: str | None = None,
    host: str = "0.0.0.0",
    port: int = 30000,
    python: str = "python",
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The ``python -m sglang.launch_server`` argv for ``engine_args``.

    >>> launch_command("/models/llama", {"tp_size": 2}, port=8080)[:6]
    ['python', '-m', 'sglang.launch_server', '--model-path', '/models/llama', '--host']
    """
    argv = [python, "-m", "sglang.launch_server", "--model-path", model_path,
            "--host", host, "--port", str(port)]
    if served_model_name:
        argv += ["--served-model-name", served_model_name]
    return argv + to_cli_flags(engine_args) + list(extra_args)


def gpus_needed(engine_args: Mapping[str, Any]) -> int:
    """GPUs a config occupies: tp_size * dp_size."""
    return int(engine_args.get("tp_size", 1)) * int(engine_args.get("dp_size", 1))
