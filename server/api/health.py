"""`GET /healthz`: the process answers and the database is reachable."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.api.errors import ApiError
from server.api.schemas import ErrorSchema, HealthSchema
from server.runtime import runtime

blp = Blueprint("health", __name__, description="Liveness for load balancers and systemd.")


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=ErrorSchema, description="Database unreachable")
    def get(self) -> dict[str, Any]:
        """Answer 200 when the database answers a query."""
        try:
            with runtime().session() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            raise ApiError(503, "database_unreachable", "The database does not answer.") from None
        return {"status": "ok", "database": "ok"}
