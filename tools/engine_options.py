"""Record engine option tables from the engines' own parsers.

    python3.11 tools/engine_options.py sglang==0.5.23 vllm==0.33.0

For each ``engine==version`` this makes (or reuses) a venv under ``--work``, installs the engine
with ``--no-deps`` and the torch it pins, then runs itself inside that venv to build the engine's
own CLI parser and describe it. Whatever the import still lacks is installed one module at a time
(at the version the engine pins, when it pins one) until the parser builds. It writes
``autotuner/flavors/options/<engine>-<version>.json`` (the option table, read by
``autotuner.flavors.option_table``) and ``<engine>-<version>.verdicts.json`` (the real parser's
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
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

# Run by path (also inside the engine's venv, without the autotuner installed): its sibling modules
# are importable from tools/.
from engine_recorders import GPUS, MODEL_CONFIG, RECORDERS, record_in_venv

OPTIONS_DIR = Path(__file__).resolve().parents[1] / "autotuner" / "flavors" / "options"
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



if __name__ == "__main__":
    sys.exit(main())
