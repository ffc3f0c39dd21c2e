"""The staff pages under /staff: nothing there answers without a logged-in session, and
what changes the equipment or erases people needs the `admin` role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from werkzeug.wrappers import Response

from server.store.models import Plan, Visibility

blp = Blueprint("staff", __name__, url_prefix="/staff")
login_manager = LoginManager()

#: Endpoints of the staff area that answer without a session.
PUBLIC = frozenset({"staff.login"})
#: Endpoints that receive files (a CSV of members, a photo), and how much they take.
UPLOADS = frozenset({"staff.members_import", "staff.member_photo"})
UPLOAD_LIMIT = 10 * 1024 * 1024

PLAN_NAMES = {
    Plan.PAYG: _l("À la demi-journée"),
    Plan.PACK: _l("Carnet"),
    Plan.MONTHLY: _l("Mensuel"),
    Plan.FREE: _l("Gratuit"),
}
LEVEL_NAMES = {
    Visibility.HIDDEN: _l("Discret"),
    Visibility.FIRST_NAME: _l("Prénom"),
    Visibility.PROFILE: _l("Profil"),
}

View = TypeVar("View", bound=Callable[..., Any])


@blp.before_request
def require_login() -> Response | None:
    if request.endpoint in PUBLIC or current_user.is_authenticated:
        return None
    return redirect(url_for("staff.login", next=request.path))


def admin_only(view: View) -> View:
    """Let only admins through; others get a page that says so (403)."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            return render_template("staff/refused.html"), 403
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def actor() -> str:
    """Who is acting, as the audit trail and the tap log record it."""
    return str(current_user.email)


def local_time(moment: datetime, timezone: str, with_date: bool = False) -> str:
    """A time as people in the space read it: "9h12", or "24/11 9h12"."""
    local = moment.astimezone(ZoneInfo(timezone))
    text = f"{local.hour}h{local.minute:02d}"
    return f"{local:%d/%m} {text}" if with_date else text


def local_input(moment: datetime, timezone: str) -> str:
    """A time as a `datetime-local` field holds it, in the site's time zone."""
    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M}"


def _allow_uploads() -> None:
    # Before CSRFProtect reads the form: the app's limit is sized for the kiosk API.
    if request.endpoint in UPLOADS:
        request.max_content_length = UPLOAD_LIMIT


def init_staff(app: Flask) -> None:
    from server.web.staff import (  # noqa: F401 (their routes)
        announcements,
        annual,
        api_tokens,
        auth,
        billing,
        dashboard,
        days,
        equipment,
        guests,
        invoices,
        meetups,
        members,
        reports,
        team,
        webhooks,
    )

    app.add_template_filter(local_time)
    app.add_template_filter(local_input)
    app.jinja_env.globals.update(
        plan_names={plan.value: name for plan, name in PLAN_NAMES.items()},
        level_names={level.value: name for level, name in LEVEL_NAMES.items()},
    )
    app.before_request(_allow_uploads)
    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    login_manager.session_protection = "strong"
    app.register_blueprint(blp)
