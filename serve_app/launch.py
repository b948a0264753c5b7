"""``autotuner ui``: attach to (or start) a Ray cluster, deploy the web app with Serve, and say
where it is::

    info = start_ui(UiOptions(workspace=Path("runs")))
    print(info.url, info.token)         # WeakTokenError: --token / $AUTOTUNER_UI_TOKEN too easy to guess

Without an address it starts a persistent local cluster (``ray start --head``; stop it with
``ray stop``), because campaigns run as Ray jobs that outlive this command. On a KubeRay cluster,
run it on the head (``kubectl exec``, or ``ray job submit -- autotuner ui --host 0.0.0.0``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from autotuner.campaign.placement import SIMULATED_GPU
from serve_app.auth import WeakTokenError, ensure_token, token_path  # noqa: F401 (the CLI catches it here)
from serve_app.deployment import APP_NAME, build_app

LOGICAL_GPU_SLOTS = 8  # a cluster started here: slots for simulated campaigns (and logical GPUs without GPUs)


@dataclass(frozen=True)
class UiOptions:
    workspace: Path
    address: str | None = None  # Ray cluster to attach to; default $RAY_ADDRESS, else start one
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    num_gpus: int | None = None  # only when starting a cluster
    dashboard_url: str | None = None  # the dashboard as browsers reach it, when not as this host does
    extra_roots: tuple[str, ...] = field(default_factory=tuple)
    allow_commands: bool = False  # tasks from the web may run any command (see serve_app.actions)


@dataclass(frozen=True)
class UiInfo:
    url: str
    token: str
    token_file: Path | None
    dashboard_url: str
    started_cluster: bool


def token_may_be_printed(stream: TextIO) -> bool:
    """The token is printed only to an interactive terminal, never into output that logs keep (a
    Ray job's logs are kept on the cluster and shown in the dashboard; a redirect keeps a file)."""
    return stream.isatty() and not os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")


def access_lines(info: UiInfo, *, show_token: bool) -> list[str]:
    """What ``autotuner ui`` says about reaching the app: the link with the token, or where to read
    the token when it must not be printed."""
    if show_token:
        stored = f"  (stored in {info.token_file})" if info.token_file else ""
        return [f"web app:        {info.url}?token={info.token}", f"access token:   {info.token}{stored}"]
    where = (f"read it with: cat {info.token_file}" if info.token_file else
             "the one given with --token or $AUTOTUNER_UI_TOKEN")
    return [f"web app:        {info.url}",
            f"access token:   not printed here (logs keep this output); {where}; paste it into the page's "
            "access box, or open the link with ?token=TOKEN"]


def _ray_cli() -> str:
    script = Path(sys.executable).parent / "ray"
    return str(script) if script.exists() else "ray"


def start_local_cluster(num_gpus: int | None) -> None:
    """``ray start --head`` with the dashboard on localhost and slots for simulated campaigns (the
    ``simulated_gpu`` resource); on a machine without GPUs it also declares logical GPU slots."""
    if num_gpus is None and shutil.which("nvidia-smi") is None:
        num_gpus = LOGICAL_GPU_SLOTS
    cmd = [_ray_cli(), "start", "--head", "--dashboard-host=127.0.0.1", "--disable-usage-stats",
           "--resources=" + json.dumps({SIMULATED_GPU: num_gpus or LOGICAL_GPU_SLOTS})]
    if num_gpus is not None:
        cmd.append(f"--num-gpus={num_gpus}")
    # The environment's bin folder on PATH: jobs' entrypoints (`autotuner run`) find the scripts.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def start_ui(opts: UiOptions) -> UiInfo:
    import ray
    from ray import serve

    from autotuner.results.hub import get_hub

    workspace = opts.workspace.expanduser().resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    token = ensure_token(workspace, opts.token)  # a weak one is refused before any cluster starts
    address = opts.address or os.environ.get("RAY_ADDRESS")
    started = False
    if not address:
        try:
            context = ray.init(address="auto", log_to_driver=False)  # a cluster already on this machine
        except ConnectionError:
            start_local_cluster(opts.num_gpus)
            started = True
            context = ray.init(address="auto", log_to_driver=False)
    else:
        context = ray.init(address=address, log_to_driver=False)
    dashboard = context.dashboard_url or "127.0.0.1:8265"
    dashboard_address = dashboard if dashboard.startswith("http") else f"http://{dashboard}"
    get_hub(create=True)  # campaigns on this cluster feed it from their first trial on
    serve.start(http_options={"host": opts.host, "port": opts.port})
    serve.run(build_app({"workspace": str(workspace), "token": token, "host": opts.host,
                         "dashboard_address": dashboard_address, "dashboard_url": opts.dashboard_url or "",
                         "extra_roots": list(opts.extra_roots), "allow_commands": opts.allow_commands}),
              name=APP_NAME, route_prefix="/", blocking=False)
    shown_host = "127.0.0.1" if opts.host in ("0.0.0.0", "::") else opts.host
    stored = token_path(workspace)
    stored = stored if stored.exists() and stored.read_text().strip() == token else None
    return UiInfo(url=f"http://{shown_host}:{opts.port}/", token=token, token_file=stored,
                  dashboard_url=opts.dashboard_url or dashboard_address, started_cluster=started)
