"""The recorders that run inside an engine's venv: fake the GPU, build the engine's own parser, describe it.

Started by tools/engine_options.py (``--record ENGINE``) with the venv's Python; see that file and
docs/engine-options.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable

from parser_table import describe_parser, record_verdicts, required_argv, to_json

# One Hopper GPU of each kind, as torch and nvidia-smi report it (measured on the lent H100/H200:
# shared/gpu-calibration; nvidia-smi's memory.total is in MiB and counts memory torch does not see).
GPUS = {
    "H100": {"name": "NVIDIA H100 80GB HBM3", "smi_mib": 81559, "torch_bytes": 85017493504,
             "capability": [9, 0], "sms": 132},
    "H200": {"name": "NVIDIA H200", "smi_mib": 143771, "torch_bytes": 150109880320,
             "capability": [9, 0], "sms": 132},
}
FAKE_GPU_COUNT = 8  # enough for tp 4 and dp 2; every device is the same GPU

# Architecture facts of Llama-3.1-8B (no weights: resolution reads only config.json).
MODEL_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": 128009,
    "hidden_act": "silu", "tie_word_embeddings": False,
}

# SGLang scenarios whose resolved defaults are recorded: (name, argv after --model-path).
SGLANG_SCENARIOS = [
    ("tp1", []),
    ("tp2", ["--tp-size", "2"]),
    ("tp4", ["--tp-size", "4"]),
    ("tp1 kv fp8_e5m2", ["--kv-cache-dtype", "fp8_e5m2"]),
    ("tp1 kv fp8_e4m3", ["--kv-cache-dtype", "fp8_e4m3"]),
    ("tp1 chunked prefill off", ["--chunked-prefill-size", "-1"]),
    ("tp1 chunked prefill 32768", ["--chunked-prefill-size", "32768"]),
    ("tp1 max-running 64", ["--max-running-requests", "64"]),
    ("tp1 served name with colon", ["--served-model-name", "llama:8b"]),
]
SGLANG_RESOLVED_FIELDS = [
    "mem_fraction_static", "chunked_prefill_size", "max_prefill_tokens", "max_running_requests",
    "cuda_graph_max_bs", "cuda_graph_bs", "cuda_graph_config", "disable_cuda_graph",
    "attention_backend", "prefill_attention_backend", "decode_attention_backend",
    "sampling_backend", "kv_cache_dtype", "page_size", "schedule_policy",
    "schedule_conservativeness", "disable_radix_cache", "enable_mixed_chunk", "max_total_tokens",
]

# Extra argv whose verdicts are recorded besides the per-option ones (flags the tuner uses today,
# argparse's corner cases). Each runs after the parser's required options.
EXTRA_VERDICT_ARGV = {
    "sglang": [
        ["--tp-size", "2", "--dp-size", "1", "--mem-fraction-static", "0.85"],
        ["--max-running-requests", "128", "--chunked-prefill-size", "-1", "--max-prefill-tokens", "8192"],
        ["--schedule-policy", "lpm", "--schedule-conservativeness", "0.3"],
        ["--schedule-policy", "dfs-weight"], ["--schedule-policy", "fifo"],
        ["--cuda-graph-max-bs", "256"], ["--cuda-graph-max-bs=160"], ["--disable-cuda-graph"],
        ["--kv-cache-dtype", "fp8_e5m2"], ["--kv-cache-dtype", "fp8_e4m3"], ["--kv-cache-dtype", "int4"],
        ["--enable-mixed-chunk", "--disable-radix-cache"], ["--disable-radix-cache=1"],
        ["--tp", "2"], ["--tp-size"], ["--tp-size", "2.5"], ["--mem-fraction-static", "high"],
        ["--disable-log-requests"], ["--no-such-flag", "1"], ["--served-model-name", "llama:8b"],
        ["--tp-size", "2", "extra"], ["--chunked-prefill-size", "-1"], ["--", "--tp-size"],
    ],
    "vllm": [
        ["--tensor-parallel-size", "2", "--data-parallel-size", "1", "--gpu-memory-utilization", "0.9"],
        ["-tp", "2"], ["--tensor_parallel_size", "2"], ["--tensor-parallel", "2"],
        ["--max-num-seqs", "256", "--max-num-batched-tokens", "8192"], ["--max-num-batched-tokens", "8k"],
        ["--enable-chunked-prefill"], ["--no-enable-chunked-prefill"], ["--disable-chunked-prefill"],
        ["--enable-prefix-caching"], ["--no-enable-prefix-caching"], ["--kv-cache-dtype", "fp8_e5m2"],
        ["--kv-cache-dtype", "fp8"], ["--kv-cache-dtype", "int4"], ["--block-size", "16"],
        ["--block-size", "sixteen"], ["--enforce-eager"], ["--enforce-eager=true"],
        ["--scheduling-policy", "priority"], ["--scheduling-policy", "lpm"],
        ["--max-cudagraph-capture-size", "256"], ["--cuda-graph-sizes", "1", "2", "4"],
        ["--compilation-config.cudagraph_capture_sizes", "[1,2,4]"], ["-O3"],
        ["--disable-log-requests"], ["--no-such-flag"], ["--max-num-seqs"], ["--swap-space", "4"],
    ],
}


def record_in_venv(engine: str, gpu: str, work: Path, result: Path) -> int:
    """Fake the GPU, build the engine's parser, describe it; write the outcome to ``result``."""
    try:
        fake_gpu(GPUS[gpu])
        outcome = RECORDERS[engine](work)
        import torch

        outcome["table"]["recorded_with"].update(torch=torch.__version__, fake_gpu_count=FAKE_GPU_COUNT)
    except ModuleNotFoundError as err:
        import importlib.util

        top = (err.name or "").split(".")[0]
        if not top or importlib.util.find_spec(top) is not None:
            raise  # a module missing inside an installed package: installing cannot help
        result.write_text(json.dumps({"missing_module": top}))
        return 3
    result.write_text(json.dumps(outcome))
    return 0


def fake_gpu(gpu: dict[str, Any]) -> None:
    """Make torch.cuda answer as ``FAKE_GPU_COUNT`` copies of ``gpu`` (before the engine imports)."""
    import torch

    properties = types.SimpleNamespace(name=gpu["name"], total_memory=gpu["torch_bytes"],
                                       major=gpu["capability"][0], minor=gpu["capability"][1],
                                       multi_processor_count=gpu["sms"], uuid="GPU-faked")
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: FAKE_GPU_COUNT
    torch.cuda.current_device = lambda: 0
    torch.cuda.get_device_capability = lambda device=None: tuple(gpu["capability"])
    torch.cuda.get_device_name = lambda device=None: gpu["name"]
    torch.cuda.get_device_properties = lambda device=None: properties
    torch.cuda.mem_get_info = lambda device=None: (gpu["torch_bytes"], gpu["torch_bytes"])


class _StandIn(types.ModuleType):
    """A module whose every attribute is a MagicMock (import-time uses succeed; nothing runs)."""

    def __getattr__(self, name: str) -> Any:
        from unittest import mock

        if name.startswith("__"):
            raise AttributeError(name)
        value = mock.MagicMock(name=f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _StandInFinder:
    """Import hook: the listed packages (GPU kernel libraries) and their submodules are stand-ins."""

    def __init__(self, packages: list[str]) -> None:
        self.packages = packages

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        import importlib.machinery

        if any(name == package or name.startswith(package + ".") for package in self.packages):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def stand_in_kernels(packages: list[str]) -> None:
    """Replace GPU kernel packages, whose compiled ops need the NVIDIA driver, by stand-ins."""
    sys.meta_path.insert(0, _StandInFinder(packages))


# Compiled GPU kernel libraries that cannot load without the NVIDIA driver (libcuda.so.1). The
# parsers never call them; SGLang's resolution imports modules that import sgl_kernel, and vLLM's
# CUDA platform imports its op library for the side effect of registering ops.
KERNEL_PACKAGES = {"sglang": ["sgl_kernel"], "vllm": ["vllm._C_stable_libtorch"]}


def record_sglang(work: Path) -> dict[str, Any]:
    """SGLang: ``ServerArgs.add_cli_args`` on a plain ArgumentParser, as ``sglang serve`` builds it."""
    stand_in_kernels(KERNEL_PACKAGES["sglang"])
    import sglang
    from sglang.srt.server_args import ServerArgs, prepare_server_args

    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="sglang serve")
        ServerArgs.add_cli_args(parser)
        return parser

    parser = build()
    model = str(work / "model-llama-3.1-8b")
    required = required_argv(parser, {"model_path": "MODEL"})  # parsing never opens it
    table = describe_parser(parser, "sglang", sglang.__version__)
    table["recorded_with"].update(
        entry_point="sglang.srt.server_args.ServerArgs.add_cli_args(argparse.ArgumentParser())",
        stand_ins=KERNEL_PACKAGES["sglang"], required_argv=required)
    verdicts = record_verdicts(build, table, required, EXTRA_VERDICT_ARGV["sglang"])
    gpu_defaults = {}
    for name, argv in SGLANG_SCENARIOS:
        gpu_defaults[name] = sglang_resolved(prepare_server_args, ["--model-path", model] + argv)
    return {"table": table, "verdicts": verdicts, "gpu_defaults": gpu_defaults}


def sglang_resolved(prepare: Callable[[list[str]], Any], argv: list[str]) -> dict[str, Any]:
    """What SGLang's resolution computes for ``argv`` (the fields that depend on the GPU and model)."""
    try:
        server_args = prepare(argv)
        for step in ("resolve_once", "check_server_args"):
            if hasattr(server_args, step):
                getattr(server_args, step)()
        resolved = (server_args.resolved_dict() if hasattr(server_args, "resolved_dict")
                    else vars(server_args))
    except ModuleNotFoundError:
        raise
    except Exception as err:  # recorded as what could not be computed, with SGLang's reason
        return {"argv": argv[2:], "error": f"{type(err).__name__}: {err}"[:500]}
    fields = {name: to_json(resolved[name]) for name in SGLANG_RESOLVED_FIELDS if name in resolved}
    return {"argv": argv[2:], "resolved": fields}


def record_vllm(work: Path) -> dict[str, Any]:
    """vLLM: the ``vllm serve`` parser, ``make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))``."""
    stand_in_kernels(KERNEL_PACKAGES["vllm"])
    # vLLM fills in help texts only when its command line asks for help (read at import);
    # "vllm --help" does that without dropping --model, which "vllm serve --help" hides.
    sys.argv = ["vllm", "--help"]
    fake_nvml()
    import vllm
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.platforms import current_platform
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    def build() -> argparse.ArgumentParser:
        return make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))

    parser = build()
    table = describe_parser(parser, "vllm", vllm.__version__)
    table["parser"]["flexible"] = True
    table["recorded_with"].update(
        entry_point="vllm.entrypoints.common.cli_args.make_arg_parser("
                    "FlexibleArgumentParser(prog='vllm serve'))",
        platform=f"{type(current_platform).__name__} ({current_platform.device_type}, NVML faked)",
        stand_ins=KERNEL_PACKAGES["vllm"], required_argv=[], sys_argv_at_import=sys.argv)
    verdicts = record_verdicts(build, table, [], EXTRA_VERDICT_ARGV["vllm"])
    return {"table": table, "verdicts": verdicts, "gpu_defaults": vllm_batch_defaults(current_platform)}


def vllm_batch_defaults(platform: Any) -> dict[str, Any]:
    """vLLM's GPU-dependent scheduler defaults (``EngineArgs.get_batch_defaults``) per usage context.

    These fill ``--max-num-batched-tokens`` and ``--max-num-seqs`` when they are not given. The
    rest of vLLM's resolution (``create_engine_config``) inspects the model in a subprocess that
    the faked GPU does not reach, so it is not recorded.
    """
    from vllm.engine.arg_utils import EngineArgs

    tokens, seqs = EngineArgs.get_batch_defaults(world_size=1)
    return {
        "device": {"name": platform.get_device_name(), "total_memory": platform.get_device_total_memory()},
        "max_num_batched_tokens": {context.name: value for context, value in tokens.items()},
        "max_num_seqs": {context.name: value for context, value in seqs.items()},
    }


def fake_nvml() -> None:
    """Make vLLM's bundled NVML bindings report the faked torch GPU."""
    import torch
    from vllm.utils.import_utils import import_pynvml

    nvml = import_pynvml()
    properties = torch.cuda.get_device_properties(0)
    total = int(os.environ["ENGINE_OPTIONS_SMI_MIB"]) * 2**20  # NVML reports what nvidia-smi shows
    memory = types.SimpleNamespace(total=total, free=total, used=0)
    nvml.nvmlInit = lambda *args: None
    nvml.nvmlShutdown = lambda *args: None
    nvml.nvmlDeviceGetCount = torch.cuda.device_count
    nvml.nvmlDeviceGetHandleByIndex = lambda index: index
    nvml.nvmlDeviceGetCudaComputeCapability = lambda handle: (properties.major, properties.minor)
    nvml.nvmlDeviceGetName = lambda handle: properties.name
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: memory
    nvml.nvmlDeviceGetUUID = lambda handle: f"GPU-faked-{handle}"


RECORDERS: dict[str, Callable[[Path], dict[str, Any]]] = {"sglang": record_sglang, "vllm": record_vllm}
