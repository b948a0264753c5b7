"""Shared fixtures. Integration tests that need Ray share ONE session-scoped local instance
(ray.init costs 5-7 s on 2 cores)."""

import os

# Must be set before ray is imported.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token prompts in tests
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOTUNER_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray with 4 logical GPU slots; never attaches to a `ray start` cluster on the box."""
    import ray

    ray.init(address="local", num_cpus=2, num_gpus=4, include_dashboard=False,
             log_to_driver=True, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """The simulator's built-in tokenizer, built once per session."""
    from autotuner.sim.tokenizer import ensure_tokenizer

    return ensure_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")
