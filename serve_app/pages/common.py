"""What every page has: the header with links and the access box, and the session's token.

    header = Header(ctx, "Tasks", page="/")
    header.authorized()    # whether this browser session may submit, stop, resume
"""

from __future__ import annotations

import html

import panel as pn

from serve_app.context import AppContext
from serve_app.gate import access_granted

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


TOKEN_FORM = """<form method="post" action="/api/session" class="token-form" style="margin:0">
<input type="hidden" name="next" value="{next}">
<input type="password" name="token" placeholder="access token" autocomplete="current-password" size="24"
 title="Needed to submit, stop, resume, download and read engine logs. autotuner ui says where to read it.">
<button type="submit">Use token</button>{refused}</form>"""
TOKEN_OK = '<span class="token-ok" title="Submitting, stopping, resuming and downloads are allowed.">' \
           "&#10003; access token accepted</span>"


def token_box(authorized: bool, refused: bool, page: str) -> str:
    """The header's access box: a plain HTML form posting to the app (it sets the cookie and comes
    back to ``page``), or a note that the token was accepted. The token itself is never sent to
    the page (see :mod:`serve_app.gate`)."""
    if authorized:
        return TOKEN_OK
    note = ' <span style="color:#b00020">that token was refused</span>' if refused else ""
    return TOKEN_FORM.format(next=html.escape(page), refused=note)


class Header:
    """Title, navigation and the access box; a session may act when the request that opened it
    carried the token (the cookie set by the link ``autotuner ui`` prints, or by the access box)."""

    def __init__(self, ctx: AppContext, title: str, page: str):
        self.ctx = ctx
        self._granted = access_granted(pn.state.headers)
        self.access = pn.pane.HTML(token_box(self.authorized(), session_arg("access") == "refused", page),
                                   margin=(22, 10, 0, 10), css_classes=["access-box"])
        dashboard = html.escape(ctx.settings.browser_dashboard_url)
        nav = pn.pane.HTML(
            f'<a href="/">Tasks</a> &nbsp;|&nbsp; <a href="/new">New task</a> &nbsp;|&nbsp; '
            f'<a href="{dashboard}" target="_blank" rel="noreferrer">Ray dashboard</a>', styles=NAV_STYLE,
            margin=(28, 10, 0, 10))
        self.title = pn.pane.Markdown("", margin=(0, 10))
        self.set_title(title)
        self.layout = pn.Row(self.title, nav, pn.layout.HSpacer(), self.access, sizing_mode="stretch_width")

    def set_title(self, title: str) -> None:
        self.title.object = f"## SGLang autotuner: {html.escape(title)}"

    def authorized(self) -> bool:
        return self._granted
