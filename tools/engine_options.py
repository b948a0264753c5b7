"""Record engine option tables from the engines' own parsers.

    python3.11 tools/engine_options.py sglang==0.5.23 vllm==0.33.0

For each ``engine==version`` this makes (or reuses) a venv under ``--work``, installs the engine
with ``--no-deps`` and the torch it pins, then runs itself inside that venv to build the engine's
own CLI parser and describe it. Whatever the import still lacks is installed one module at a time
(at the version the engine pins, when it pins one) until the parser builds. It writes
``autotuner/engines/options/<engine>-<version>.json`` (the option table, read by
``autotuner.engines.option_table``) and ``<engine>-<version>.verdicts.json`` (the real parser's
verdict on a set of argv, which the tests replay against the table).

Inside the venv the GPU is faked (8 x H100 80GB, then 8 x H200): torch.cuda answers as Hopper
devices, a fake ``nvidia-smi`` reports their memory, NVML (vLLM) answers the same, and compiled
GPU kernel libraries, which need the NVIDIA driver to load, are stand-in modules. With that,
SGLang's own resolution computes its GPU-dependent defaults for a few scenarios, and vLLM its
GPU-dependent batch defaults; the table keeps them under ``gpu_defaults``. See
docs/engine-options.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import types
import venv
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
OPTIONS_DIR = REPO / "autotuner" / "engines" / "options"
DEFAULT_WORK = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autotuner-engine-options"

# The engine's own torch pin, from the package index: "===" matches the version string exactly, so
# a machine-local build such as "2.13.0+cpu" is never taken (torchvision, which an engine may import
# with its parser, loads only beside the CUDA build it was made for).
# Import names whose distribution is named differently.
DISTRIBUTIONS = {"zmq": "pyzmq", "PIL": "pillow", "yaml": "pyyaml", "cpuinfo": "py-cpuinfo",
                 "multipart": "python-multipart", "IPython": "ipython", "google": "protobuf",
                 "sklearn": "scikit-learn", "pynvml": "nvidia-ml-py", "cv2": "opencv-python-headless",
                 "dateutil": "python-dateutil", "jwt": "pyjwt", "flashinfer": "flashinfer-python",
                 "sgl_kernel": "sglang-kernel", "tvm_ffi": "apache-tvm-ffi"}
MAX_INSTALLS = 80
HELP_CHARS = 200

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


# ----------------------------------------------------------------------------------------------
# Driver: venvs, installs, runs the recorder inside each venv.
# ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", metavar="ENGINE==VERSION",
                        help="engines to record, e.g. sglang==0.5.23 vllm==0.33.0")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"where venvs and downloads are kept between runs (default {DEFAULT_WORK})")
    parser.add_argument("--out", type=Path, default=OPTIONS_DIR, help="where the tables are written")
    parser.add_argument("--record", choices=sorted(RECORDERS), help=argparse.SUPPRESS)
    parser.add_argument("--gpu", choices=sorted(GPUS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.record:
        return record_in_venv(args.record, args.gpu, args.work, args.result)
    if not args.specs:
        parser.error("name at least one ENGINE==VERSION")
    for spec in args.specs:
        engine, sep, version = spec.partition("==")
        if not sep or engine not in RECORDERS or not version:
            parser.error(f"{spec!r}: expected ENGINE==VERSION with ENGINE one of {', '.join(sorted(RECORDERS))}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.specs:
        engine, _, version = spec.partition("==")
        table, verdicts = record(engine, version, args.work)
        write_json(args.out / f"{engine}-{version}.json", table)
        write_json(args.out / f"{engine}-{version}.verdicts.json", verdicts)
        print(f"{engine} {version}: {len(table['options'])} options, {len(verdicts['verdicts'])} verdicts")
    return 0


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as stable, diffable JSON (one option per line)."""
    items = data.get("options") or data.get("verdicts")
    key = "options" if "options" in data else "verdicts"
    head = {k: v for k, v in data.items() if k != key}
    text = json.dumps(head, indent=1, sort_keys=False)[:-2]
    lines = ",\n  ".join(json.dumps(item, sort_keys=False) for item in items)
    path.write_text(f'{text},\n "{key}": [\n  {lines}\n ]\n}}\n')


def record(engine: str, version: str, work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The table and the verdicts of ``engine`` at ``version``, from the engine's own parser."""
    env_dir = work / f"venv-{engine}-{version}"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=True)
        pip(python, "--no-deps", f"{engine}=={version}")
    constraints = write_constraints(python, engine, work / f"constraints-{engine}-{version}.txt")
    pip(python, "-c", str(constraints), "torch")
    fake_bin = work / "bin"
    fake_bin.mkdir(exist_ok=True)
    smi = fake_bin / "nvidia-smi"
    smi.write_text('#!/bin/sh\necho "${ENGINE_OPTIONS_SMI_MIB:?}"\n')
    smi.chmod(0o755)
    model = work / "model-llama-3.1-8b"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps(MODEL_CONFIG))
    results = {gpu: run_recorder(python, engine, gpu, work, constraints) for gpu in GPUS}
    first = results["H100"]
    for gpu, result in results.items():
        if result["table"] != first["table"] or result["verdicts"] != first["verdicts"]:
            raise SystemExit(f"{engine} {version}: the parser differs between faked GPUs ({gpu})")
    table = first["table"]
    table["recorded_with"]["installed"] = installed_distributions(python)
    table["gpu_defaults"] = {gpu: result["gpu_defaults"] for gpu, result in results.items()}
    verdicts = {"engine": engine, "version": version, "python": table["recorded_with"]["python"],
                "verdicts": first["verdicts"]}
    return table, verdicts


def pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    """pip install in the venv; raises with pip's message on failure."""
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def write_constraints(python: Path, engine: str, path: Path) -> Path:
    """The engine's own ``==`` pins for this platform as a pip constraints file (torch's as ``===``)."""
    script = (
        "import importlib.metadata as m, sys\n"
        "from pip._vendor.packaging.requirements import Requirement\n"
        "for line in m.distribution(sys.argv[1]).requires or []:\n"
        "    r = Requirement(line)\n"
        "    specs = list(r.specifier)\n"
        "    if (r.marker is None or r.marker.evaluate({'extra': ''})) and len(specs) == 1 \\\n"
        "            and specs[0].operator == '==':\n"
        "        print(r.name, specs[0].version)\n")
    out = subprocess.run([str(python), "-c", script, engine], capture_output=True, text=True, check=True).stdout
    pins = []
    for line in out.splitlines():
        name, version = line.split()
        pins.append(f"{name}{'===' if name.lower() == 'torch' else '=='}{version}")
    path.write_text("\n".join(pins) + "\n")
    return path


def installed_distributions(python: Path) -> list[str]:
    """name==version of every distribution in the venv, sorted."""
    script = ("import importlib.metadata as m; "
              "print('\\n'.join(sorted({d.metadata['Name'] + '==' + d.version for d in m.distributions()})))")
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.lower().startswith(("pip==", "setuptools=="))]


def run_recorder(python: Path, engine: str, gpu: str, work: Path, constraints: Path) -> dict[str, Any]:
    """Run the recorder in the venv, installing each module its import lacks, until it succeeds."""
    env = dict(os.environ, PATH=f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}",
               ENGINE_OPTIONS_SMI_MIB=str(GPUS[gpu]["smi_mib"]), PYTHONWARNINGS="ignore", PYTHONHASHSEED="0",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for _ in range(MAX_INSTALLS):
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "result.json"
            done = subprocess.run([str(python), __file__, "--record", engine, "--gpu", gpu,
                                   "--work", str(work), "--result", str(result)],
                                  capture_output=True, text=True, env=env, check=False)
            outcome = json.loads(result.read_text()) if result.exists() else None
        if done.returncode == 0 and outcome:
            return outcome
        missing = (outcome or {}).get("missing_module")
        if not missing:
            raise RuntimeError(f"recording {engine} on {gpu} failed:\n{done.stderr[-4000:]}")
        install_module(python, missing, constraints)
    raise RuntimeError(f"recording {engine}: still missing modules after {MAX_INSTALLS} installs")


def install_module(python: Path, module: str, constraints: Path) -> None:
    """Install the distribution that provides ``module`` (with its dependencies if they resolve)."""
    dist = DISTRIBUTIONS.get(module, module.replace("_", "-"))
    print(f"  installing {dist} (for import {module})", flush=True)
    try:
        pip(python, "-c", str(constraints), dist)
    except RuntimeError:
        pip(python, "--no-deps", "-c", str(constraints), dist)


# ----------------------------------------------------------------------------------------------
# Recorder: runs inside the engine's venv.
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# Describing a parser, and its verdicts.
# ----------------------------------------------------------------------------------------------

def describe_parser(parser: argparse.ArgumentParser, engine: str, version: str) -> dict[str, Any]:
    """The option table of ``parser`` (see autotuner/engines/option_table.py for its use)."""
    import platform

    grouped: dict[int, list[str]] = {}
    actions: dict[int, argparse.Action] = {}
    for flag, action in parser._option_string_actions.items():
        grouped.setdefault(id(action), []).append(flag)
        actions[id(action)] = action
    deprecated_set = getattr(parser, "_deprecated", set())
    options = [describe_action(parser, actions[key], flags, deprecated_set) for key, flags in grouped.items()]
    positionals = [describe_action(parser, a, [], deprecated_set) for a in parser._get_positional_actions()]
    first_flag = {id(a): flags[0] for key, flags in grouped.items() for a in [actions[key]]}
    exclusive = [{"flags": [first_flag[id(a)] for a in group._group_actions], "required": group.required}
                 for group in parser._mutually_exclusive_groups]
    return {
        "schema": 1,
        "engine": engine,
        "version": version,
        "recorded_with": {"python": platform.python_version()},
        "parser": {"prog": parser.prog, "class": f"{type(parser).__module__}.{type(parser).__qualname__}",
                   "allow_abbrev": parser.allow_abbrev, "prefix_chars": parser.prefix_chars,
                   "flexible": False},
        "mutually_exclusive": exclusive,
        "positionals": positionals,
        "options": options,
    }


# Help text that declares its own option deprecated ("(Deprecated, use X)", "Deprecated. Use X",
# "this flag is deprecated"), not one that mentions another deprecated option.
DEPRECATED_HELP = re.compile(r"^\W*deprecated\b|\bis deprecated\b|\bdeprecated:", re.IGNORECASE)

ACTION_KINDS = {
    argparse._StoreAction: "store", argparse._StoreTrueAction: "store_true",
    argparse._StoreFalseAction: "store_false", argparse._StoreConstAction: "store_const",
    argparse._AppendAction: "append", argparse._AppendConstAction: "append_const",
    argparse._CountAction: "count", argparse._HelpAction: "help", argparse._VersionAction: "version",
    argparse.BooleanOptionalAction: "boolean_optional",
}


def describe_action(parser: argparse.ArgumentParser, action: argparse.Action, flags: list[str],
                    deprecated_set: set) -> dict[str, Any]:
    """One option: flags, dest, action kind, nargs, value type, choices, default, help, status."""
    kind = next((name for cls, name in ACTION_KINDS.items() if type(action) is cls), None)
    if kind is None:
        base = next((name for cls, name in ACTION_KINDS.items() if isinstance(action, cls)), "action")
        kind = f"{base}:{type(action).__qualname__}"
    help_text = action.help if isinstance(action.help, str) else ""
    suppressed = action.help == argparse.SUPPRESS
    new_flag = getattr(action, "new_flag", None)
    deprecated = (action in deprecated_set or getattr(action, "deprecated", False) is True
                  or type(action).__name__.startswith("Deprecated")
                  or DEPRECATED_HELP.search(help_text) is not None)
    entry: dict[str, Any] = {"dest": action.dest, "flags": flags, "action": kind, "nargs": action.nargs}
    hidden = [f for f in flags if f not in action.option_strings]
    if hidden:
        entry["hidden"] = hidden
    name = "/".join(action.option_strings) if flags else (action.metavar or action.dest)
    if name != "/".join(f for f in flags if f not in hidden) or not flags:
        entry["name"] = name
    if action.nargs != 0:
        entry.update(describe_type(parser, action))
        if kind.startswith("action:") and not type(action).__name__.startswith("Deprecated"):
            entry["type"] = "unchecked"  # a custom action may reject values itself
    if action.choices is not None:
        unordered = isinstance(action.choices, (set, frozenset))
        choices = sorted(action.choices, key=repr) if unordered else list(action.choices)
        entry["choices"] = [to_json(c) for c in choices]
        if entry["choices"] != choices:
            entry["choices_unchecked"] = True  # values JSON cannot hold
        if unordered:
            entry["choices_unordered"] = True  # argparse lists them in set order in its message
    if action.const is not None and (action.nargs == "?" or "const" in kind):
        entry["const"] = to_json(action.const)
    entry["default"] = to_json(action.default)
    if action.required:
        entry["required"] = True
    if suppressed:
        entry["suppressed"] = True
    if help_text and not suppressed:
        entry["help"] = shorten(expand_help(help_text, action))
    if deprecated:
        entry["deprecated"] = True
        entry["deprecation"] = (f"use {new_flag}" if new_flag else
                                shorten(getattr(action, "error_message", None) or help_text or "deprecated"))
    if getattr(action, "error_message", None):
        entry["error_message"] = action.error_message
    return entry


def expand_help(text: str, action: argparse.Action) -> str:
    """The help text with argparse's %-formatting applied (%(default)s, %%), as --help shows it."""
    if "%" not in text:
        return text
    params = dict(vars(action), prog="")
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    try:
        return text % params
    except (KeyError, TypeError, ValueError):
        return text


def shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= HELP_CHARS else text[:HELP_CHARS - 3] + "..."


# Probe strings on which the validator's model of a value type must agree with the real one.
TYPE_PROBES = ["0", "1", "-1", "7", "+3", " 8 ", "1_000", "0.5", "-2.5", "1e3", "inf", "nan", "abc",
               "None", "none", "", "true", "False", "{}", '{"a": 1}', "[1, 2]", "1k", "2M", "a-B", "Auto"]
# Models whose converted value must equal the real one too; the others are judged on acceptance.
EXACT_MODELS = ("str", "int", "float", "json", "snake_lower")


def describe_type(parser: argparse.ArgumentParser, action: argparse.Action) -> dict[str, Any]:
    """The value type of ``action`` as the validator models it, checked on probe strings.

    The validator's converters are tried, the one the converter's name suggests first; the first
    that agrees with the real converter on every probe is recorded, else "unchecked".
    """
    type_func = parser._registry_get("type", action.type, action.type)
    type_name = getattr(action.type, "__name__", repr(action.type)) if action.type else "str"
    inner = _optional_inner(action.type)
    none_ok = inner is not None
    guess = classify_type(inner if none_ok else action.type)
    described: dict[str, Any] = {"type": "unchecked", "type_name": type_name}
    for candidate in dict.fromkeys([guess, *EXACT_MODELS]):
        if candidate != "unchecked" and _agrees(type_func, candidate, none_ok):
            described["type"] = candidate
            if none_ok:
                described["none_ok"] = True
            break
    template = type_error_template(parser, action)
    if template and template != f"invalid {type_name} value: {{value!r}}":
        described["type_error"] = template
    return described


def _agrees(type_func: Callable[[str], Any], model_name: str, none_ok: bool) -> bool:
    """Whether the validator's ``model_name`` converter treats every probe as ``type_func`` does."""
    convert = validator_module()._CONVERTERS[model_name]

    def model(text: str) -> Any:
        return None if none_ok and text in ("", "None") else convert(text)

    for probe in TYPE_PROBES:
        real, modelled = _converted(type_func, probe), _converted(model, probe)
        if (real is _REJECTED) != (modelled is _REJECTED):
            return False
        if model_name in EXACT_MODELS and real is not _REJECTED and (
                type(real) is not type(modelled) or repr(real) != repr(modelled)):  # nan != nan
            return False
    return True


def classify_type(type_func: Any) -> str:
    """Name of the validator's converter that ``type_func``'s name suggests, or "unchecked"."""
    if type_func is None or type_func is str:
        return "str"
    if type_func in (int, float):
        return type_func.__name__
    if type_func is json.loads:
        return "json"
    name = getattr(type_func, "__name__", "")
    return {"human_readable_int": "human_int", "human_readable_int_or_auto": "human_int_or_auto",
            "json_list_type": "json", "nullable_str": "str"}.get(name, "unchecked")


def _optional_inner(type_func: Any) -> Any:
    """The wrapped type of a ``optional_type(T)`` / ``nullable_str`` style converter, if any."""
    if getattr(type_func, "__name__", "") == "nullable_str":
        return str
    if getattr(type_func, "__name__", "") == "_optional_type" and type_func.__closure__:
        return next((cell.cell_contents for cell in type_func.__closure__ if callable(cell.cell_contents)), None)
    return None


_REJECTED = object()


def _converted(convert: Callable[[str], Any], text: str) -> Any:
    try:
        return convert(text)
    except Exception:  # argparse reports any converter failure as a rejected value
        return _REJECTED


def type_error_template(parser: argparse.ArgumentParser, action: argparse.Action) -> str | None:
    """argparse's message for a value the type rejects, with the value as ``{value}``."""
    bad = "ZZbadZZ"
    try:
        parser._get_value(action, bad)
    except argparse.ArgumentError as err:
        text = without_addresses(err.message).replace("{", "{{").replace("}", "}}")
        return text.replace(repr(bad), "{value!r}").replace(bad, "{value}")
    except Exception:
        return None
    return None


def without_addresses(message: str) -> str:
    """``message`` with object addresses ("<function loads at 0x7f...>") made the same in every run."""
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x...>", message)


_VALIDATOR = None


def validator_module() -> types.ModuleType:
    """autotuner/engines/option_table.py, loaded by path (the engine venv lacks the autotuner)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "option_table", REPO / "autotuner" / "engines" / "option_table.py")
        _VALIDATOR = importlib.util.module_from_spec(spec)
        sys.modules["option_table"] = _VALIDATOR
        spec.loader.exec_module(_VALIDATOR)
    return _VALIDATOR


def to_json(value: Any) -> Any:
    """``value`` as JSON data; objects JSON cannot hold become their repr."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(getattr(value, "value", None), (str, int)):  # enums
        return value.value
    if hasattr(value, "__dataclass_fields__") or hasattr(value, "__struct_fields__"):
        fields = getattr(value, "__struct_fields__", None) or list(value.__dataclass_fields__)
        return {name: to_json(getattr(value, name)) for name in fields}
    return repr(value)


def required_argv(parser: argparse.ArgumentParser, values: dict[str, str]) -> list[str]:
    """The argv that satisfies the parser's required options (values by dest)."""
    argv: list[str] = []
    for action in parser._actions:
        if action.required and action.option_strings:
            argv += [action.option_strings[0], values[action.dest]]
    return argv


def verdict_argv(table: dict[str, Any]) -> Iterator[list[str]]:
    """Per option: a valid use and an invalid one, from its recorded kind, type and choices."""
    for option in table["options"]:
        flag = option["flags"][0]
        if option["action"] in ("help", "version") or option.get("required") or option["dest"] == "config":
            continue  # --config FILE is read before parsing (not modelled by the validator)
        if option["nargs"] == 0:
            yield [flag]
            yield [f"{flag}=1"]
            continue
        value = sample_value(option)
        count = option["nargs"] if isinstance(option["nargs"], int) else 1
        yield [flag] + [value] * count
        yield [flag]
        if option.get("choices") and not (option.get("choices_unchecked") or option.get("choices_unordered")):
            yield [flag, "not-a-choice"]
        elif option.get("type") in ("int", "float", "human_int"):
            yield [flag, "x1"]


def sample_value(option: dict[str, Any]) -> str:
    """A value the option's recorded type should accept."""
    if option.get("choices"):
        return str(option["choices"][-1])
    return {"int": "3", "float": "0.5", "human_int": "4", "human_int_or_auto": "auto", "json": "{}"}.get(
        option.get("type"), "x")


def record_verdicts(build: Callable[[], argparse.ArgumentParser], table: dict[str, Any],
                    required: list[str], extra: list[list[str]]) -> list[dict[str, Any]]:
    """The real parser's verdict on each argv: its error message (or null) and deprecation warnings."""
    verdicts = []
    for argv in [*extra, *verdict_argv(table)]:
        full = required + argv
        error, warnings = real_verdict(build(), full)
        verdicts.append({"argv": full, "error": error, "warned": warnings})
    return verdicts


class _Rejected(Exception):
    pass


def real_verdict(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str | None, list[str]]:
    """(argparse's error message or None, deprecation warnings logged) for ``argv``."""
    def error(message: str) -> None:
        raise _Rejected(message)

    parser.error = error  # argparse reports every rejection through error(); keep the message
    handler = _Collector()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in RECORDERS)]
    for logger in loggers:
        logger.addHandler(handler)
    lines: list[str] = []
    message = None
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namespace = parser.parse_args(argv)
            lines += [str(w.message) for w in caught]
            # vLLM warns once per process for these (logger.warning_once); ask its own rule directly.
            lines += [f"argument '{action.dest}' is deprecated" for action in getattr(parser, "_deprecated", ())
                      if getattr(namespace, action.dest, action.default) != action.default]
    except _Rejected as err:
        message = without_addresses(str(err))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    lines = handler.lines + lines
    found = [shorten(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in lines if "deprecat" in line.lower()]
    return message, list(dict.fromkeys(found))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


if __name__ == "__main__":
    sys.exit(main())
