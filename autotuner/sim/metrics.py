"""``GET /metrics`` of the simulated server: its replicas' counters in Prometheus' text format, under
each engine's own metric names, help texts and labels (vLLM always, SGLang with ``--enable-metrics``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from autotuner.sim.replica import Replica

Reading = Callable[[Replica], float]
# (kind, name, help, reading of one replica) under each engine's own names and help texts.
ENGINE_METRICS: dict[str, tuple[tuple[str, str, str, Reading], ...]] = {
    "sglang": (
        ("gauge", "sglang:num_running_reqs", "The number of running requests.", lambda r: len(r.core.running)),
        ("gauge", "sglang:num_queue_reqs", "The number of requests in the waiting queue.",
         lambda r: len(r.core.waiting)),
        ("gauge", "sglang:num_used_tokens", "The number of used tokens.", lambda r: r.core.kv_held),
        ("gauge", "sglang:token_usage", "The token usage.", lambda r: r.core.kv_held / r.core.capacity),
        ("counter", "sglang:prompt_tokens", "Number of prefill tokens processed.", lambda r: r.prompt_tokens),
        ("counter", "sglang:generation_tokens", "Number of generation tokens processed.",
         lambda r: r.generated_tokens),
        ("counter", "sglang:num_requests", "The number of requests processed.", lambda r: r.finished_requests),
    ),
    "vllm": (
        ("gauge", "vllm:num_requests_running", "Number of requests in model execution batches.",
         lambda r: len(r.core.running)),
        ("gauge", "vllm:num_requests_waiting", "Number of requests waiting to be processed.",
         lambda r: len(r.core.waiting)),
        ("gauge", "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
         lambda r: r.core.kv_held / r.core.capacity),
        ("counter", "vllm:prompt_tokens", "Number of prefill tokens processed.", lambda r: r.prompt_tokens),
        ("counter", "vllm:generation_tokens", "Number of generation tokens processed.",
         lambda r: r.generated_tokens),
        ("counter", "vllm:num_preemptions", "Cumulative number of preemption from the engine.",
         lambda r: r.core.stats.retractions),
    ),
}


class EngineMetrics:
    """A Prometheus collector of the server's replicas, labelled as the engine labels them (vLLM:
    ``model_name`` and the engine index; SGLang: ``model_name``, and ``dp_rank`` with dp > 1)."""

    def __init__(self, engine: str, model_name: str, replicas: Sequence[Replica]):
        self.engine, self.model_name, self.replicas = engine, model_name, replicas

    def collect(self) -> Any:
        labels = ["model_name", "engine"] if self.engine == "vllm" else ["model_name"] + (
            ["dp_rank"] if len(self.replicas) > 1 else [])
        for kind, name, help_text, reading in ENGINE_METRICS[self.engine]:
            family = (GaugeMetricFamily if kind == "gauge" else CounterMetricFamily)(name, help_text, labels=labels)
            for i, replica in enumerate(self.replicas):
                family.add_metric([self.model_name, str(i)][:len(labels)], reading(replica))
            yield family

__all__ = ["ENGINE_METRICS", "EngineMetrics"]
