"""The staff pages under /staff: nothing there answers without a logged-in session."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, redirect, request, url_for
from flask_login import LoginManager, current_user
from werkzeug.wrappers import Response

blp = Blueprint("staff", __name__, url_prefix="/staff")
login_manager = LoginManager()

#: Endpoints of the staff area that answer without a session.
PUBLIC = frozenset({"staff.login"})


@blp.before_request
def require_login() -> Response | None:
    if request.endpoint in PUBLIC or current_user.is_authenticated:
        return None
    return redirect(url_for("staff.login", next=request.path))


def actor() -> str:
    """Who is acting, as the audit trail and the tap log record it."""
    return str(current_user.email)


def local_time(moment: datetime, timezone: str, with_date: bool = False) -> str:
    """A time as people in the space read it: "9h12", or "24/11 9h12"."""
    local = moment.astimezone(ZoneInfo(timezone))
    text = f"{local.hour}h{local.minute:02d}"
    return f"{local:%d/%m} {text}" if with_date else text


def init_staff(app: Flask) -> None:
    from server.staff import auth, dashboard, equipment, members  # noqa: F401 (their routes)

    app.add_template_filter(local_time)
    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    login_manager.session_protection = "strong"
    auth.init_limiter(app)
    app.register_blueprint(blp)
