"""Pages and live sockets: home, member pages, the board, meetups, passes, staff pages.

Pages answer in the reader's language (`server.i18n`); nothing here imports `server.api`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask


def in_zone(moment: datetime, timezone: str) -> datetime:
    """A stored time in a site's time zone, for `|datetimeformat(..., rebase=False)`."""
    return moment.astimezone(ZoneInfo(timezone))


def init_web(app: Flask) -> None:
    """Register every page's blueprint and the templates' helpers."""
    from server.web import announcements, board, home, me, meetups, passes, photos
    from server.web.staff import init_staff

    for module in (home, me, photos, board, meetups, announcements, passes):
        app.register_blueprint(module.blp)
    app.add_template_filter(in_zone)
    init_staff(app)
