"""How the whole application answers an error: JSON in the API's one shape under `/api/`
and `/healthz` (`server.api.errors`), our page everywhere else (`server.web.errors`)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, request
from flask_smorest import Api
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from presence.errors import error_body
from server.api.errors import body_of
from server.api.schemas import ErrorSchema
from server.web.errors import error_page

log = logging.getLogger(__name__)


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
            page, status = error_page(error.code)
            response = make_response(page, status)
        else:
            body, status = body_of(error)
            response = jsonify(body)
            response.status_code = status
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="presence"'
        # What the exception says beside its body: `Allow` on a 405, `Retry-After`...
        for name, value in _headers_of(error):
            response.headers.setdefault(name, value)
        return response


def _headers_of(error: HTTPException) -> list[tuple[str, str]]:
    """The headers `error` answers with, but its own body's `Content-Type`."""
    return [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]


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
