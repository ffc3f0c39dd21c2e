"""One error shape for the JSON API: `{"status": "error", "reason": code, "message": text}`.

Refusals are coded (`reason`) so a kiosk can act on them, and carry a readable `message`
for the person reading a log; field problems add `fields` (`{"taps.0.read_at": [...]}`).
Pages answer an error with a page of ours, in the reader's language, that says what to
do. No traceback or internal detail ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Api
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from server.schemas import ErrorSchema

log = logging.getLogger(__name__)

#: The reason code for each HTTP status we answer with, unless a more precise one is given.
REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPException):
    """A refusal with a coded reason, raised from a view or service."""

    def __init__(
        self, status: int, reason: str, message: str, fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.reason = reason
        self.fields = fields


def error_body(reason: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "reason": reason, "message": message}
    if fields:
        body["fields"] = fields
    return body


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into `{"taps.0.read_at": ["..."]}`."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
        return flat
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix or "_": list(messages)}
    return {prefix or "_": [str(messages)]}


def _from_http_exception(error: HTTPException) -> tuple[dict[str, Any], int]:
    status = error.code or 500
    if isinstance(error, ApiError):
        return error_body(error.reason, error.description or "", error.fields), status
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages:
        # webargs nests by location: {"json": {...}}; the location adds nothing for a client.
        if isinstance(messages, dict) and len(messages) == 1:
            messages = next(iter(messages.values()))
        fields = flatten_messages(messages)
        if fields == {"_": ["Invalid JSON body."]}:
            return error_body("malformed_json", "The body is not valid JSON."), 400
        summary = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
        return error_body("invalid_request", summary[:500], fields), status
    reason = REASONS.get(status, "error")
    message = error.description or error.name
    if status == 413:
        message = "The request body is too large."
    return error_body(reason, message), status


#: The title and the advice of an error page, by status.
PAGES = {
    400: (_l("Demande incomprise"), _l("Cette demande est incomplète ou mal formée : revenez en arrière et recommencez.")),  # noqa: E501
    403: (_l("Accès refusé"), _l("Cette page ne vous est pas ouverte.")),
    404: (_l("Page introuvable"), _l("Aucune page à cette adresse : le lien est peut-être incomplet, ou la page a été retirée.")),  # noqa: E501
    405: (_l("Action impossible ici"), _l("Cette page ne permet pas cette action : revenez en arrière et recommencez.")),  # noqa: E501
    413: (_l("Envoi trop volumineux"), _l("Ce que vous envoyez est trop lourd : essayez avec un fichier plus petit.")),  # noqa: E501
    429: (_l("Trop de demandes"), _l("Trop de demandes d'affilée : attendez une minute et recommencez.")),  # noqa: E501
    500: (_l("Erreur de notre côté"), _l("Quelque chose n'a pas marché de notre côté ; l'équipe peut le retrouver dans le journal. Réessayez dans un moment.")),  # noqa: E501
    503: (_l("Un instant"), _l("La base de données ne répond pas pour le moment ; rien n'a été enregistré. Réessayez dans un moment.")),  # noqa: E501
}  # fmt: skip


def error_page(status: int) -> tuple[Response | str, int]:
    """Our page for an error status; plain text if even that cannot be drawn."""
    title, advice = PAGES.get(status, PAGES[400] if status < 500 else PAGES[500])
    try:
        return render_template("message.html", title=title, message=advice), status
    except Exception:  # the page itself failed (a template needing the database...)
        log.exception("the error page for %d could not be drawn", status)
        return str(advice), status


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz"))


class JsonApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting and answering errors in our one shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(
        self, error: HTTPException
    ) -> Response | HTTPException | tuple[Response | str, int]:
        if not _wants_json():
            if error.code is None or error.code < 400:  # a redirect, not an error
                return error
            return error_page(error.code)
        body, status = _from_http_exception(error)
        response = jsonify(body)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="presence"'
        return response


def register_error_handlers(app: Flask) -> None:
    """Catch what no view expected: log it, answer without a traceback."""

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> tuple[Response | str, int]:
        # The database is busy, restarting or unreachable: nothing was stored, and a
        # kiosk keeps the taps and retries. Not a bug in the request, so not a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, error)
        message = "The database is unavailable for a moment; nothing was stored, try again."
        if _wants_json():
            return jsonify(error_body("database_unavailable", message)), 503
        return error_page(503)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> tuple[Response | str, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_json():
            return jsonify(error_body("internal_error", "Something went wrong on our side.")), 500
        return error_page(500)
