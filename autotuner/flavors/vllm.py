"""vLLM: ``vllm serve MODEL ...`` (recorded table: vLLM 0.33.0).

This module is all a flavor needs (see docs/extending.md, "An engine flavor"): the parameters in
the engine's own ``dest`` names, how its server is launched and probed, and its OME runtime.
"""

from __future__ import annotations

from typing import Any, Mapping

from autotuner.flavors.base import EngineParam, OmeRuntime, parallel_params
from autotuner.flavors.table import TableFlavor


class VLLM(TableFlavor):
    name = "vllm"
    title = "vLLM"
    program = ("vllm", "serve")
    model_flag = None  # the model is vllm serve's positional argument
    tokenizer_flag = "--tokenizer"
    default_port = 8000
    ready_paths = ("/health", "/v1/models")
    # Stock runtimes (vllm-*) run the launch line as one `bash -lc` string in runner.args, which an
    # InferenceService's args would replace: a trial sets the whole command instead.
    ome = OmeRuntime(runtime_prefix="vllm-",
                     command=("vllm", "serve", "$(MODEL_PATH)", "--host", "0.0.0.0", "--port", "8080"))
    tp_param, dp_param, memory_param = "tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization"
    catalogue = (
        *parallel_params("tensor_parallel_size", "data_parallel_size"),
        EngineParam(
            "gpu_memory_utilization", "float",
            "Share of the whole GPU memory vLLM may use for weights, activations and the KV cache.",
            low=0.0, high=1.0, low_exclusive=True, short="mem", start={"low": 0.7, "high": 0.95, "step": 0.01},
            start_value=0.9),
        EngineParam(
            "max_num_seqs", "int", "Most sequences scheduled in one step (batch size cap).",
            low=1, short="seqs", start={"low": 8, "high": 1024, "log": True}, start_value=256),
        EngineParam(
            "max_num_batched_tokens", "int", "Token budget of one scheduler step (prefill chunk size).",
            low=1, short="batched", start={"choices": [2048, 4096, 8192, 16384]}, start_value=8192),
        EngineParam(
            "enable_chunked_prefill", "bool", "Split long prompts into chunks mixed with decodes.",
            short="chunked", start_value=True),
        EngineParam(
            "enable_prefix_caching", "bool", "Reuse the KV cache of shared prompt prefixes.",
            short="prefix", start_value=True),
        EngineParam(
            "kv_cache_dtype", "str", "Data type of the KV cache; fp8 halves its size.",
            choices=("auto", "fp8", "fp8_e4m3", "fp8_e5m2"), short="kv", start={"choices": ["auto", "fp8"]},
            start_value="auto"),
        EngineParam(
            "block_size", "int", "Tokens per KV cache block.",
            choices=(16, 32, 64, 128), short="block", start={"choices": [16, 32]}, start_value=16),
        EngineParam(
            "enforce_eager", "bool", "Run eagerly, without CUDA graphs (slower steps, less memory).",
            short="eager", start_value=False),
        EngineParam(
            "max_cudagraph_capture_size", "int", "Largest batch captured as a CUDA graph.",
            low=1, high=4096, short="graph_bs", start={"choices": [64, 256, 512]}, start_value=512),
        EngineParam(
            "scheduling_policy", "str", "Order in which waiting requests are scheduled.",
            choices=("fcfs", "priority"), short="policy", start={"choices": ["fcfs"]}, start_value="fcfs"),
    )


    def config_problems(self, config: Mapping[str, Any], version: str, gpu: str) -> list[tuple[str, str]]:
        # vLLM's SchedulerConfig refuses a step budget smaller than the batch it must schedule.
        tokens, seqs = config.get("max_num_batched_tokens"), config.get("max_num_seqs")
        if isinstance(tokens, int) and isinstance(seqs, int) and tokens < seqs:
            why = f"vLLM needs max_num_batched_tokens ({tokens}) >= max_num_seqs ({seqs})"
            return [("max_num_batched_tokens", why)]
        return []


FLAVOR = VLLM()
