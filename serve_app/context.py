"""What every page and API route of one replica shares: settings, the live store, the actions::

    ctx = AppContext.create(settings)     # starts the store's refresh thread
    ctx.authorized(token)                 # constant-time token check
"""

from __future__ import annotations

from dataclasses import dataclass, field

from serve_app.actions import TaskActions
from serve_app.auth import WrongTokenBackoff, token_matches
from serve_app.jobs import CampaignJobs
from serve_app.live import LiveStore, RayHubReader
from serve_app.settings import UiSettings


@dataclass
class AppContext:
    settings: UiSettings
    store: LiveStore
    actions: TaskActions
    backoff: WrongTokenBackoff = field(default_factory=WrongTokenBackoff)  # wrong tokens per client

    @classmethod
    def create(cls, settings: UiSettings, *, start: bool = True) -> AppContext:
        jobs = CampaignJobs(settings.dashboard_address)
        store = LiveStore(settings.roots, jobs=jobs, hub=RayHubReader())
        if start:
            store.start()
        return cls(settings, store, TaskActions(settings.workspace_path, store, jobs,
                                                allow_commands=settings.allow_commands))

    def authorized(self, token: str | None) -> bool:
        return token_matches(token, self.settings.token)
