"""Members' photos as the board shows them: `/photos/<name>`, only while its member is
at `profile` level (storage and the rules of a photo: `server.domain.photos`)."""

from __future__ import annotations

from flask import Blueprint, abort, send_from_directory
from sqlalchemy import select
from werkzeug.wrappers import Response

from server.domain.photos import NAME, PREFIX, folder
from server.runtime import runtime
from server.store.models import Member, Visibility

blp = Blueprint("photos", __name__, url_prefix="/photos")


def send_photo(address: str | None) -> Response:
    name = (address or "").removeprefix(PREFIX)
    if not NAME.match(name):
        abort(404)
    response: Response = send_from_directory(folder(runtime().settings.data_path), name)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@blp.get("/<name>")
def public_photo(name: str) -> Response:
    """A photo, while its member chooses to show their profile (the board shows it)."""
    address = PREFIX + name
    with runtime().session() as session:
        shown = session.scalar(
            select(Member.id).where(
                Member.photo == address,
                Member.visibility == Visibility.PROFILE,
                Member.archived_at.is_(None),
            )
        )
    if shown is None:
        abort(404)
    return send_photo(address)
