"""The engine's API key: where it comes from, and keeping it out of everything the tuner writes.

The task names the key's source (``engine.api_key``: an environment variable, or a Kubernetes
Secret for the ``ome`` backend), never the key. The campaign's driver reads it once, before Ray
starts, and hands it to the trials in memory; each trial starts its engine with ``--api-key``
(an ``ome`` InferenceService reads it from the Secret itself) and gives genai-bench the same key::

    key = api_key_for(spec)                  # None when the server needs no key
    redact_argv(["server", "--api-key", key])          # ['server', '--api-key', '***']

SGLang takes the key only on its command line, so it is visible in the process list of the
machine while it runs; genai-bench gets it in its environment (:mod:`autotuner.bench.genai_bench`).
Every file and message the tuner writes has it replaced by ``***`` (engine logs are scrubbed when
the engine stops); a resumed campaign sweeps its trial folders for what a killed run left
(:func:`scrub_tree`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from autotuner.flavors.api_key_names import API_KEY_FLAG
from autotuner.engines.base import EngineStartError

if TYPE_CHECKING:
    from autotuner.task.spec import TaskSpec

REDACTED = "***"


class ApiKeyError(RuntimeError):
    """The key the task names cannot be read."""


def api_key_for(spec: TaskSpec) -> str | None:
    """The key ``spec.engine.api_key`` names, or None when it names none; :class:`ApiKeyError`
    when the variable or the Secret is missing or empty."""
    ref = spec.engine.api_key
    if ref is None:
        return None
    if ref.env is not None:
        value = os.environ.get(ref.env, "")
        where = f"engine.api_key.env: the environment variable {ref.env}"
    else:
        assert ref.secret_name is not None and spec.engine.ome is not None  # checked by the spec
        value = _secret_value(spec, ref.secret_name, ref.secret_key) or ""
        where = (f"engine.api_key.secret_name: key {ref.secret_key!r} of Secret {ref.secret_name!r} in namespace "
                 f"{spec.engine.ome.namespace!r}")
    if not value.strip():
        raise ApiKeyError(f"{where} is not set or empty (where the campaign's driver runs)")
    return value


def _secret_value(spec: TaskSpec, name: str, key: str) -> str | None:
    from autotuner.k8s.api import KubeError, NamespacedApi, make_api_client

    ome = spec.engine.ome  # the backend's own cluster and namespace (validation made sure it is there)
    try:
        api_client = make_api_client(ome.kubeconfig, ome.context)
    except Exception as err:  # no kubeconfig, no in-cluster token ...
        raise ApiKeyError(f"cannot load Kubernetes credentials to read Secret {name!r}: {err}") from err
    try:
        return NamespacedApi(api_client, ome.namespace).secret_value(name, key)
    except KubeError as err:
        raise ApiKeyError(f"cannot read Secret {name!r}: {err}") from err
    finally:
        api_client.close()


def redact(text: str, key: str | None) -> str:
    """``text`` with every occurrence of ``key`` replaced by ``***``."""
    return text.replace(key, REDACTED) if key else text


def redact_argv(argv: Sequence[str]) -> list[str]:
    """An argv to show or log: the value after ``--api-key`` (or in ``--api-key=...``) replaced."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == API_KEY_FLAG and i + 1 < len(out):
            out[i + 1] = REDACTED
        elif arg.startswith(API_KEY_FLAG + "="):
            out[i] = f"{API_KEY_FLAG}={REDACTED}"
    return out


@contextlib.contextmanager
def redacted_start_errors(key: str | None) -> Iterator[None]:
    """Within the block, an :class:`EngineStartError` (whose reason and log tail become the trial's
    failure reason) comes out with ``key`` replaced."""
    try:
        yield
    except EngineStartError as err:
        if not key:
            raise
        raise EngineStartError(redact(err.reason, key), redact(err.log_tail, key),
                               infeasible=err.infeasible) from None


def scrub_file(path: Path, key: str | None) -> None:
    """Replace ``key`` by ``***`` in a file, atomically; nothing when there is no key or no file."""
    if not key or not path.is_file():
        return
    data = path.read_bytes()
    scrubbed = data.replace(key.encode(), REDACTED.encode())
    if scrubbed != data:
        tmp = path.with_name(f".{path.name}.scrub")
        tmp.write_bytes(scrubbed)
        os.replace(tmp, path)


def scrub_tree(root: Path, key: str | None) -> None:
    """:func:`scrub_file` on every file under ``root`` (links are not followed): what a run killed
    before it could scrub (an engine log; genai-bench's files, by versions that passed it the key
    in argv) is cleaned when the campaign resumes with the same key."""
    if not key or not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            scrub_file(path, key)


__all__ = ["REDACTED", "ApiKeyError", "api_key_for", "redact", "redact_argv",
           "redacted_start_errors", "scrub_file", "scrub_tree"]
