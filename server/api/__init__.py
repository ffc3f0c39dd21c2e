"""The kiosk JSON API, the read API of integrations (staff API tokens), their schemas
and error shape, health, SpaceAPI and metrics.

Every answer here is JSON in one shape (`server.api.errors`); nothing here renders a page
or imports `server.web`.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from server.api import health, kiosk, read, spaceapi
from server.api.bounded_json import init_bounded_json
from server.api.schemas import document_one_kind_of_tap


def init_api(app: Flask, rest: Api, csrf: CSRFProtect) -> None:
    """Register the API's blueprints: the documented ones on `rest` (flask-smorest)."""
    init_bounded_json(app)  # every JSON body of the app, not only the API's
    rest.register_blueprint(health.blp)
    rest.register_blueprint(kiosk.blp)
    rest.register_blueprint(read.blp)
    document_one_kind_of_tap(rest.spec.components.schemas)
    app.register_blueprint(spaceapi.blp)
    # Kiosks and integrations authenticate with a bearer token, which a browser never
    # sends by itself.
    csrf.exempt(kiosk.blp)
    csrf.exempt(read.blp)
