"""vLLM: ``vllm serve MODEL ...`` (recorded table: vLLM 0.33.0).

This module is all a flavor needs (see docs/extending.md, "An engine flavor"): the parameters in
the engine's own ``dest`` names, how its server is launched and probed, and its OME runtime.
"""

from __future__ import annotations

from autotuner.engines.flavors.base import EngineParam, OmeRuntime, TableFlavor


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
    ome = OmeRuntime(runtime_prefix="vllm-", readiness_path="/health",
                     command=("vllm", "serve", "$(MODEL_PATH)", "--host", "0.0.0.0", "--port", "8080"))
    tp_param, dp_param, memory_param = "tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization"
    catalogue = (
        EngineParam("tensor_parallel_size", "int", "Tensor parallel size: GPUs one model replica is split over.",
                    low=1, high=64),
        EngineParam("data_parallel_size", "int", "Data parallel size: model replicas behind one server.",
                    low=1, high=64),
        EngineParam("gpu_memory_utilization", "float",
                    "Share of the whole GPU memory vLLM may use for weights, activations and the KV cache.",
                    low=0.0, high=1.0, low_exclusive=True),
        EngineParam("max_num_seqs", "int", "Most sequences scheduled in one step (batch size cap).", low=1),
        EngineParam("max_num_batched_tokens", "int", "Token budget of one scheduler step (prefill chunk size).",
                    low=1),
        EngineParam("enable_chunked_prefill", "bool", "Split long prompts into chunks mixed with decodes."),
        EngineParam("enable_prefix_caching", "bool", "Reuse the KV cache of shared prompt prefixes."),
        EngineParam("kv_cache_dtype", "str", "Data type of the KV cache; fp8 halves its size.",
                    choices=("auto", "fp8", "fp8_e4m3", "fp8_e5m2")),
        EngineParam("block_size", "int", "Tokens per KV cache block.", choices=(16, 32, 64, 128)),
        EngineParam("enforce_eager", "bool", "Run eagerly, without CUDA graphs (slower steps, less memory)."),
        EngineParam("max_cudagraph_capture_size", "int", "Largest batch captured as a CUDA graph.",
                    low=1, high=4096),
        EngineParam("scheduling_policy", "str", "Order in which waiting requests are scheduled.",
                    choices=("fcfs", "priority")),
    )


FLAVOR = VLLM()
