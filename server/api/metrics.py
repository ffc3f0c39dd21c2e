"""Prometheus metrics at /metrics (prometheus-client): what a network of spaces watches.

Counted as they happen, in this process: taps stored by outcome, and how long each
upload of taps took to store (a histogram). Read from the database at each scrape, so
every process says the same: the head-count of each site, the kiosks heard from in the
last five minutes, whether each kiosk's badge reader works, the webhook calls and
e-mails waiting. And the boards connected to this process. Only clients in `[metrics]
allowed_networks` (this machine by default) may read it: the figures are not personal,
but they say when a space is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from server.domain.presence import head_count
from server.runtime import Runtime
from server.store.models import Delivery, Kiosk, ReaderState, Site

blp = Blueprint("metrics", __name__)

KIOSK_UP = timedelta(minutes=5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One application's metrics (tests make many applications: each has its own)."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.taps = Counter(
            "presence_taps",
            "Taps stored by this process, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.upload_seconds = Histogram(
            "presence_tap_upload_seconds",
            "Time to store one upload of taps from a kiosk",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_FromDatabase(app, runtime))


_READERS = (
    select(Kiosk.name, Site.slug, Kiosk.reader)
    .join(Site, Kiosk.site_id == Site.id)
    .where(Kiosk.reader.is_not(None))
    .order_by(Kiosk.name)
)


class _FromDatabase(Collector):
    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.runtime.now()
        here = GaugeMetricFamily("presence_head_count", "People at each site now", labels=["site"])
        kiosks = GaugeMetricFamily(
            "presence_kiosks_up",
            "Kiosks heard from in the last five minutes, per site",
            labels=["site"],
        )
        waiting = GaugeMetricFamily(
            "presence_deliveries_waiting", "Webhook calls and e-mails not yet delivered"
        )
        readers = GaugeMetricFamily(
            "presence_kiosk_reader_up",
            "Whether each kiosk's badge reader works (1) or is gone or stuck (0), as the "
            "kiosk last said; absent while it has not said",
            labels=["kiosk", "site"],
        )
        with self.runtime.session() as session:
            for kiosk_name, site_slug, reader in session.execute(_READERS):
                readers.add_metric([kiosk_name, site_slug], int(reader is ReaderState.OK))
            for site in session.scalars(select(Site).order_by(Site.id)):
                here.add_metric([site.slug], head_count(session, site.id, now))
                up = session.scalar(
                    select(func.count())
                    .select_from(Kiosk)
                    .where(Kiosk.site_id == site.id, Kiosk.last_seen_at >= now - KIOSK_UP)
                )
                kiosks.add_metric([site.slug], int(up or 0))
            pending = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.delivered_at.is_(None), Delivery.gave_up_at.is_(None))
            )
            waiting.add_metric([], int(pending or 0))
        yield here
        yield kiosks
        yield readers
        yield waiting
        boards = GaugeMetricFamily(
            "presence_boards_connected", "Wall boards connected to this process"
        )
        live: Any = self.app.extensions.get("presence.boards")
        boards.add_metric([], live.connected if live is not None else 0)
        yield boards


def metrics() -> Metrics:
    found: Metrics = current_app.extensions["presence.metrics"]
    return found


@blp.get("/metrics")
def exposition() -> Response:
    app: Runtime = current_app.extensions["presence"]
    if not app.settings.metrics.allows(request.remote_addr):
        abort(403)
    return Response(generate_latest(metrics().registry), content_type=CONTENT_TYPE)


def init_metrics(app: Flask, runtime: Runtime) -> None:
    app.extensions["presence.metrics"] = Metrics(app, runtime)
    app.register_blueprint(blp)
