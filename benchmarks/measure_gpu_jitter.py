"""How much a GPU's own speed varies between identical "levels": the GPU term of the noise model.

Needs a CUDA GPU and PyTorch (it is not part of the tuner, and nothing depends on it). Each "level"
is a fixed stretch of work shaped like Llama-3.1-8B serving on one GPU: decode steps of every
layer's matmuls (bf16) at batch 64, with a 1024-token prefill chunk every 8th step. The level is
timed end to end, many times; the coefficient of variation of those times is how much throughput
would vary between identical levels if nothing but the GPU moved::

    python -m benchmarks.measure_gpu_jitter --levels 30 --out benchmarks/results/gpu-jitter.csv
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

# Llama-3.1-8B: hidden 4096, 32 layers, 32 query and 8 KV heads of 128, MLP 14336.
HIDDEN, LAYERS, QKV, MLP = 4096, 32, 4096 + 2 * 1024, 14336


def level_seconds(steps: int, batch: int, prefill_every: int, chunk: int) -> float:
    """Wall time of one level: ``steps`` decode steps (and prefill chunks), synchronised at the end."""
    import torch

    weights = level_seconds.weights  # type: ignore[attr-defined]
    x = torch.randn(batch, HIDDEN, device="cuda", dtype=torch.bfloat16)
    p = torch.randn(chunk, HIDDEN, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(steps):
        for tokens in (x, p) if step % prefill_every == 0 else (x,):
            h = tokens
            for w_qkv, w_o, w_up, w_down in weights:
                q = h @ w_qkv
                h = q[:, :HIDDEN] @ w_o
                u = h @ w_up
                h = u[:, :MLP] @ w_down
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure_gpu_jitter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200, help="decode steps per level")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu-jitter.csv"))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure", file=sys.stderr)
        return 2
    make = lambda rows, cols: torch.randn(rows, cols, device="cuda", dtype=torch.bfloat16) * 0.02  # noqa: E731
    level_seconds.weights = [(make(HIDDEN, QKV), make(HIDDEN, HIDDEN), make(HIDDEN, 2 * MLP), make(MLP, HIDDEN))
                             for _ in range(LAYERS)]  # type: ignore[attr-defined]
    for _ in range(3):  # warm-up: clocks, allocator, cuBLAS heuristics
        level_seconds(args.steps // 4, args.batch, 8, 1024)
    times = [level_seconds(args.steps, args.batch, 8, 1024) for _ in range(args.levels)]
    mean = statistics.fmean(times)
    cv = statistics.stdev(times) / mean
    name = torch.cuda.get_device_name()
    print(f"{name}: {args.levels} levels of {args.steps} steps, mean {mean:.3f} s, cv {cv:.2%}, "
          f"min {min(times):.3f} s, max {max(times):.3f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["gpu", "levels", "steps", "batch", "mean_s", "cv", "min_s", "max_s"])
        writer.writerow([name, args.levels, args.steps, args.batch, f"{mean:.4f}", f"{cv:.5f}", f"{min(times):.4f}",
                         f"{max(times):.4f}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
