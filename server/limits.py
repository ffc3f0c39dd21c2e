"""The rate limiter (Flask-Limiter) of the whole application: the staff log-in and
password forms (`server.web.staff.auth`), and the API tokens (`server.api.read`).

Its counts live in Redis when the server has one (`[server] redis_url`), so that
several processes count together; in memory otherwise (one process).
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)


def init_limiter(app: Flask, redis_url: str) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    limiter.init_app(app)
