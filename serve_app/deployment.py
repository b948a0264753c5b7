"""The Ray Serve deployment of the web app and its application builder.

One replica (Panel keeps each browser session in the replica that served the page, so a second
replica would break sessions), pinned to the head node, which holds the campaign folders that Ray
Jobs write. The FastAPI app is built inside the replica (late-bound ingress), so nothing of
Panel or Bokeh is pickled. Served at route prefix "/" (Panel's resource URLs assume the root)::

    serve.run(build_app({"workspace": "runs", "token": "..."}), name=APP_NAME, route_prefix="/")

The same builder works in a KubeRay RayService: ``import_path: serve_app.deployment:build_app``
with the settings as ``args``.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from serve_app.settings import UiSettings

APP_NAME = "autotuner-ui"
IMPORT_PATH = "serve_app.deployment:build_app"


@serve.deployment(
    num_replicas=1, max_ongoing_requests=1000,  # each open page holds a websocket
    ray_actor_options={"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}})
@serve.ingress()
class AutotunerUI:
    """The web app: Panel pages plus the REST API, reading one shared live store."""

    def __init__(self, settings: UiSettings):
        from serve_app.context import AppContext

        self.ctx = AppContext.create(settings)

    def __serve_build_asgi_app__(self) -> Any:
        from serve_app.asgi import build_asgi_app

        return build_asgi_app(self.ctx)


def build_app(args: dict[str, Any]) -> Any:
    """Serve application builder: ``args`` are :class:`UiSettings` fields (``serve run`` passes
    strings: ``extra_roots`` may then be comma-separated, ``allow_commands`` "true")."""
    fields = dict(args)
    roots = fields.get("extra_roots", ())
    fields["extra_roots"] = tuple(r for r in (roots.split(",") if isinstance(roots, str) else roots) if r)
    allow = fields.get("allow_commands", False)
    fields["allow_commands"] = allow.strip().lower() == "true" if isinstance(allow, str) else bool(allow)
    return AutotunerUI.bind(UiSettings(**fields))
