"""What every page has: the header with links and the access-token field, and the session's token.

    header = Header(ctx, "Tasks")
    header.token()         # the token this browser session acts with, or None
"""

from __future__ import annotations

import html

import panel as pn

from serve_app.auth import TOKEN_COOKIE
from serve_app.context import AppContext

NAV_STYLE = {"font-size": "1.05em"}


def session_arg(name: str) -> str | None:
    """A query parameter of the URL that opened this session."""
    values = (pn.state.session_args or {}).get(name) or []
    return values[0].decode(errors="replace") if values else None


def message_pane() -> pn.pane.Alert:
    return pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")


def say(pane: pn.pane.Alert, text: str, kind: str = "info") -> None:
    """Show a message (markdown) in an alert pane; ``kind``: info, success, warning, danger."""
    pane.object, pane.alert_type, pane.visible = text, kind, bool(text)


class Header:
    """Title, navigation and the token field; the token starts from the cookie the app sets when
    the page was opened with ``?token=``, or from that parameter."""

    def __init__(self, ctx: AppContext, title: str):
        self.ctx = ctx
        initial = (pn.state.cookies or {}).get(TOKEN_COOKIE) or session_arg("token") or ""
        self.token_input = pn.widgets.PasswordInput(
            label="access token", value=initial, width=260, placeholder="needed to submit, stop, resume, download",
            description="Printed by `autotuner ui`; stored with 0600 permissions in the workspace.")
        dashboard = html.escape(ctx.settings.browser_dashboard_url)
        nav = pn.pane.HTML(
            f'<a href="/">Tasks</a> &nbsp;|&nbsp; <a href="/new">New task</a> &nbsp;|&nbsp; '
            f'<a href="{dashboard}" target="_blank">Ray dashboard</a>', styles=NAV_STYLE, margin=(28, 10, 0, 10))
        self.title = pn.pane.Markdown("", margin=(0, 10))
        self.set_title(title)
        self.layout = pn.Row(self.title, nav, pn.layout.HSpacer(), self.token_input, sizing_mode="stretch_width")

    def set_title(self, title: str) -> None:
        self.title.object = f"## SGLang autotuner: {html.escape(title)}"

    def token(self) -> str | None:
        return self.token_input.value or None

    def authorized(self) -> bool:
        return self.ctx.authorized(self.token())
