"""Benchmarks: how load is generated and its results parsed (genai-bench, run as a subprocess).

Never import genai_bench here: it monkeypatches sockets and threads through gevent at import time
and a Ray process that did so hangs. It only ever runs as a child process.
"""
