"""SGLang: ``python -m sglang.launch_server --model-path P ...``.

Checked against SGLang's own ``ServerArgs`` (recorded tables 0.5.19 and 0.5.23): 0.5.23 dropped the
``--cuda-graph-max-bs`` alias (an ambiguous prefix there) and deprecated ``--disable-cuda-graph``,
so both versions get ``--cuda-graph-max-bs-decode`` and ``--cuda-graph-backend-{decode,prefill}``.
"""

from __future__ import annotations

from typing import Any, Mapping

from autotuner.flavors.base import EngineParam, OmeRuntime, parallel_params
from autotuner.flavors.table import TableFlavor

# Recorded from SGLang's resolution on H100 and H200 (gpu_defaults "tp1 kv fp8_e5m2").
_FP8_E5M2_ON_HOPPER = (("H100", "H200"), "on {gpu} SGLang switches its attention backend from fa3 to triton")


class SGLang(TableFlavor):
    name = "sglang"
    title = "SGLang"
    program = ("-m", "sglang.launch_server")
    model_flag = "--model-path"
    tokenizer_flag = "--tokenizer-path"
    default_port = 30000
    ready_paths = ("/health", "/v1/models")
    # Stock runtimes (srt-*) put the whole launch line in runner.command; the flags go in runner.args.
    ome = OmeRuntime(runtime_prefix="srt-")
    tp_param, dp_param, memory_param = "tp_size", "dp_size", "mem_fraction_static"
    catalogue = (
        *parallel_params("tp_size", "dp_size"),
        EngineParam(
            "mem_fraction_static", "float",
            "Fraction of GPU memory for weights and the KV cache pool; the rest holds activations and "
            "CUDA graphs.",
            low=0.0, high=1.0, low_exclusive=True, high_exclusive=True, short="mem",
            start={"low": 0.6, "high": 0.92, "step": 0.01}, start_value=0.85),
        EngineParam(
            "max_running_requests", "int", "Most requests decoded at once (batch size cap).",
            low=1, short="mrr", start={"low": 8, "high": 512, "log": True}, start_value=128),
        EngineParam(
            "chunked_prefill_size", "int", "Most prompt tokens prefilled in one step; -1 disables chunking.",
            low=1, allow_minus_one=True, short="chunk", start={"choices": [2048, 4096, 8192, 16384]},
            start_value=8192),
        EngineParam(
            "max_prefill_tokens", "int", "Token budget of one prefill batch.",
            low=1, short="prefill", start={"choices": [4096, 8192, 16384]}, start_value=16384),
        EngineParam(
            "schedule_policy", "str", "Order in which waiting requests are admitted.",
            choices=("lpm", "random", "fcfs", "dfs-weight"), short="policy", start={"choices": ["fcfs", "lpm"]},
            start_value="fcfs"),
        EngineParam(
            "schedule_conservativeness", "float",
            "Higher reserves more KV room for running requests (fewer retractions, smaller batches).",
            low=0.0, high=10.0, low_exclusive=True, short="conserv", start={"low": 0.3, "high": 1.5},
            start_value=1.0),
        EngineParam(
            "cuda_graph_max_bs", "int", "Largest decode batch captured as a CUDA graph.",
            low=1, high=4096, spellings=(("--cuda-graph-max-bs-decode",), ("--cuda-graph-max-bs",)),
            short="graph_bs", start={"choices": [32, 64, 160, 256]}, start_value=160),
        EngineParam(
            "disable_cuda_graph", "bool", "Run without CUDA graphs (slower steps, less memory).",
            spellings=(("--cuda-graph-backend-decode=disabled", "--cuda-graph-backend-prefill=disabled"),
                       ("--disable-cuda-graph",)),
            short="no_graph", start_value=False),
        EngineParam(
            "kv_cache_dtype", "str", "Data type of the KV cache; fp8 halves its size.",
            choices=("auto", "fp8_e5m2", "fp8_e4m3"), notes={"fp8_e5m2": _FP8_E5M2_ON_HOPPER}, short="kv",
            start={"choices": ["auto", "fp8_e5m2"]}, start_value="auto"),
        EngineParam(
            "enable_mixed_chunk", "bool", "Mix prefill chunks into decode batches.",
            short="mixed", start_value=False),
        EngineParam("disable_radix_cache", "bool", "Turn off prefix caching.", short="no_radix", start_value=False),
    )

    def served_name_problem(self, served_model_name: str) -> str | None:
        # SGLang's check_server_args: ':' is reserved for 'model:adapter' (LoRA).
        if ":" in served_model_name:
            return "SGLang refuses a served model name with ':' (reserved for model:adapter LoRA names)"
        return None

    def config_problems(self, config: Mapping[str, Any], version: str, gpu: str) -> list[tuple[str, str]]:
        chunk = config.get("chunked_prefill_size")
        if self.memory_param in config or not isinstance(chunk, int) or chunk <= 0:
            return []
        fraction = default_memory_fraction(self.table(version), gpu, chunk)
        if fraction is None or fraction > 0:
            return []
        return [("chunked_prefill_size",
                 f"SGLang {version} reserves so much activation memory for chunks of {chunk} tokens on {gpu} that "
                 f"its default mem_fraction_static is {fraction:.2f}: set mem_fraction_static or a smaller chunk")]


def default_memory_fraction(table: Mapping[str, Any], gpu: str, chunk: int) -> float | None:
    """SGLang's computed default ``mem_fraction_static`` at tp 1 for a prefill chunk size: the line
    through the two chunk sizes recorded from its own resolution (None when the GPU was not)."""
    cases = table.get("gpu_defaults", {}).get(gpu)
    if not cases or "tp1 chunked prefill 32768" not in cases:
        return None
    base, large = cases["tp1"]["resolved"], cases["tp1 chunked prefill 32768"]["resolved"]
    slope = (large["mem_fraction_static"] - base["mem_fraction_static"]) / (
        large["chunked_prefill_size"] - base["chunked_prefill_size"])
    return base["mem_fraction_static"] + slope * (chunk - base["chunked_prefill_size"])


FLAVOR = SGLang()
