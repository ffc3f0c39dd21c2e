"""Pages and live sockets: home, member pages, the board, meetups, passes, staff pages.

Pages answer in the reader's language (`server.i18n`); nothing here imports `server.api`.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup

#: A table's opening and closing tags as the templates write them. What a person typed
#: never matches: it reaches the page escaped ("&lt;table").
_TABLE_OPEN = re.compile(r"<table\b")
_TABLE_CLOSE = re.compile(r"</table>")


def in_zone(moment: datetime, timezone: str) -> datetime:
    """A stored time in a site's time zone, for `|datetimeformat(..., rebase=False)`."""
    return moment.astimezone(ZoneInfo(timezone))


def scroll_tables(html: str) -> Markup:
    """Put each table of a rendered page in its own scroll box (`.table-scroll` in
    presence.css): a wide table scrolls inside it, and the page never sideways."""
    html = _TABLE_OPEN.sub('<div class="table-scroll"><table', str(html))
    return Markup(_TABLE_CLOSE.sub("</table></div>", html))


def init_web(app: Flask) -> None:
    """Register every page's blueprint and the templates' helpers."""
    from server.web import announcements, board, home, me, meetups, passes, photos
    from server.web.staff import init_staff

    for module in (home, me, photos, board, meetups, announcements, passes):
        app.register_blueprint(module.blp)
    app.add_template_filter(in_zone)
    app.add_template_filter(scroll_tables)
    init_staff(app)
