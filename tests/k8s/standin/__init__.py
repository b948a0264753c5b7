"""Kubernetes without a cluster: a stand-in API server and OME controller (DESIGN.md section 5).

The real ``kubernetes`` client talks HTTP to :class:`FakeApiServer`; :class:`FakeOmeController`
plays OME. Only the server side is a stand-in; it lives under tests/, not in the product.
"""

from .apiserver import FakeApiServer, RequestRecord
from .controller import FakeOmeController, genai_bench_job_command, simulator_command, tiny_engine_command
from .store import ApiError, ObjectStore

__all__ = [
    "ApiError",
    "FakeApiServer",
    "FakeOmeController",
    "ObjectStore",
    "genai_bench_job_command",
    "RequestRecord",
    "simulator_command",
    "tiny_engine_command",
]
