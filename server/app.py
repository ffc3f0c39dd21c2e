"""create_app: the Flask application, its settings, security headers, API, pages and sockets."""

from __future__ import annotations

import logging
from typing import Literal

from flask import Flask, abort, render_template, request
from flask_babel import gettext as _
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from presence import __version__
from server.errors import JsonApi, register_error_handlers
from server.runtime import Clock, Runtime
from server.settings import Settings, load_settings, secret_key
from server.store.db import make_engine, make_session_factory

#: What pages may load and do: only from this server; styles and scripts in the page
#: itself only with the request's nonce (none of ours are inline but the base style).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def init_security_headers(app: Flask, settings: Settings) -> None:
    """The usual headers on every answer, with Flask-Talisman: a strict CSP, no framing,
    no MIME sniffing, no referrer to other sites, HSTS when the site is served over
    HTTPS (`[server] secure_cookies`)."""
    Talisman(
        app,
        force_https=False,  # a proxy in front does it; a LAN install has no certificate
        strict_transport_security=settings.server.secure_cookies,
        session_cookie_secure=settings.server.secure_cookies,
        session_cookie_http_only=True,
        frame_options="DENY",
        referrer_policy="no-referrer",
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["style-src", "script-src"],
        permissions_policy={"camera": "()", "microphone": "()", "geolocation": "()"},
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    async_mode: Literal["threading", "gevent"] = "threading",
) -> Flask:
    """Build the application; tests pass their own settings and a frozen clock.

    `async_mode` is how sockets are served: "gevent" under `presence serve` (see
    server.cli.serving), "threading" for Flask's test client and development."""
    settings = settings or load_settings()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.api.max_body_kib * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server.secure_cookies,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        # A request naming another host is refused (400): no page or link is ever built
        # from a name an attacker chose.
        TRUSTED_HOSTS=settings.server.host_names(),
        API_TITLE="Présence",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Check-in and presence for coworking spaces."},
            "components": {
                "securitySchemes": {
                    "kioskToken": {"type": "http", "scheme": "bearer"},
                    "apiToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A staff API token, made by an admin on the staff "
                        "pages (Jetons d'API). Scope `read`: the GET endpoints of visits, "
                        "members and statements, nothing else.",
                    },
                }
            },
        },
    )
    engine = make_engine(settings.database_url)
    runtime = Runtime(settings, engine, make_session_factory(engine))
    if clock is not None:
        runtime.clock = clock
    app.extensions["presence"] = runtime

    from server.api import init_api
    from server.api.metrics import init_metrics
    from server.i18n import init_i18n
    from server.limits import init_limiter
    from server.web import init_web
    from server.web.live import init_live

    init_i18n(app)
    # First: its nonce must exist before anything else can fail the request (a body too
    # large for the CSRF check, say), or the error page's style would be blocked.
    init_security_headers(app, settings)

    # Before the pages and the API, whose views it limits.
    init_limiter(app, settings.server.redis_url)
    init_web(app)

    @app.before_request
    def refuse_nul_characters() -> None:
        # No text field holds a NUL character, and PostgreSQL refuses one in text with an
        # error (a 500): refused here, once for every form and query string. After
        # init_web, whose staff pages raise the size limit of uploads before any read.
        fields = (*request.args.values(), *request.form.values())
        if any("\x00" in value for value in fields):
            abort(400, description=_("Ce formulaire contient un caractère interdit."))

    # Every form carries a CSRF token; the kiosk API authenticates with a bearer token
    # instead, which a browser never sends by itself.
    csrf = CSRFProtect(app)
    init_api(app, JsonApi(app), csrf)

    @app.errorhandler(CSRFError)
    def form_expired(error: CSRFError) -> tuple[str, int]:
        message = _(
            "Ce formulaire a expiré ou ne vient pas de cette page : rechargez-la et recommencez."
        )
        return render_template("message.html", title=_("Formulaire expiré"), message=message), 400

    register_error_handlers(app)
    server = settings.server
    init_live(app, server.redis_url, server.redis_channel, server.socket_origins, async_mode)
    init_metrics(app, runtime)
    hops = settings.server.proxy_hops
    if hops:
        # Wrapped last, so Socket.IO connections see the real client address too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    logging.getLogger(__name__).debug("app ready on %s", engine.url.render_as_string())
    return app
