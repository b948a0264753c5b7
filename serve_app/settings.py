"""The web app's settings, passed from ``autotuner ui`` (or a RayService config) to the replica::

    settings = UiSettings(workspace="/home/me/runs", token="...", host="127.0.0.1",
                          dashboard_address="http://127.0.0.1:8265", allow_commands=False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from serve_app.auth import WeakTokenError, token_problem, viewing_is_open


@dataclass(frozen=True)
class UiSettings:
    """Where tasks live, who may act, and where the Ray dashboard is."""

    workspace: str  # new campaigns go to <workspace>/<name>; its campaigns are listed
    token: str
    host: str = "127.0.0.1"  # where Serve listens; viewing needs no token only on localhost
    dashboard_address: str = "http://127.0.0.1:8265"  # the job API, as the replica reaches it
    dashboard_url: str = ""  # the dashboard as the browser reaches it (default: dashboard_address)
    extra_roots: tuple[str, ...] = field(default_factory=tuple)  # more folders whose campaigns are listed
    allow_commands: bool = False  # tasks from the web may run any command (see serve_app.actions)

    def __post_init__(self) -> None:
        if (why := token_problem(self.token)) is not None:  # a RayService passes it here directly
            raise WeakTokenError(f"the app's access token {why}")

    @property
    def workspace_path(self) -> Path:
        return Path(self.workspace).expanduser().resolve()

    @property
    def roots(self) -> list[Path]:
        return [self.workspace_path, *(Path(r).expanduser().resolve() for r in self.extra_roots)]

    @property
    def open_viewing(self) -> bool:
        return viewing_is_open(self.host)

    @property
    def browser_dashboard_url(self) -> str:
        return (self.dashboard_url or self.dashboard_address).rstrip("/")
