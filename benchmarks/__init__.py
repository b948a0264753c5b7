"""Benchmarks of the autotuner: search strategies against simulator ground truth, and the
orchestration overhead of the real trial path. Entry point: ``python -m benchmarks.run --quick``."""
