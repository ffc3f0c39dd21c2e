"""The Présence server: kiosk API, live board, staff pages and reports.

`create_app` (in `server.app`) builds the Flask application. It is imported only when
asked for, so that importing the rules (`server.domain`) or the store (`server.store`)
loads no web library: a script, a job or a test of a rule runs without Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from server.app import create_app

        return create_app
    raise AttributeError(f"module 'server' has no attribute {name!r}")
