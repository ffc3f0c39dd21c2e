"""Scheduled jobs: visits nobody tapped out of end at their site's closing time, and raw
badge values, and guests who did not come back, are erased after their retention periods.

**Once, however many processes.** Each run of a job is claimed in the database before it
does anything, in the same transaction as its work: a row in `job_runs` keyed by the job
and its slot (the minute for the sweep, the day for retention). A second process that
schedules the same slot fails to insert that row and does nothing. So the scheduler can
run inside every `presence serve` process (`[jobs] in_server`, the default), or in a
`presence scheduler` process of its own; either way each slot runs once.

**Closing time, daylight saving, downtime.** The sweep does not wait for a clock time:
every `sweep_seconds` it ends the visits whose `closes_at` (an instant, worked out from
the site's opening hours in its time zone when the visit began) has passed. A DST change
moves no instant, and a sweep after a restart ends at once everything that closed while
the server was down, at the time it closed. The daily retention job catches up the same
way: at start, if today's run is due and not claimed, it runs.

The functions that do the work take a session and a time, and tests call them directly.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server.domain.guests import erase_past_guests
from server.domain.meetups import forget_past_attendees
from server.domain.photos import delete_photo
from server.domain.presence import close_expired_visits
from server.domain.sites import home_zone
from server.jobs.outbox import Sender
from server.runtime import Runtime
from server.store.models import AuditEntry, Delivery, JobRun, Tap

log = logging.getLogger(__name__)

SWEEP, RETENTION = "end-visits", "retention"
#: Claims older than this are pruned by the retention job.
CLAIMS_KEPT = timedelta(days=14)


def erase_old_badge_values(session: Session, now: datetime, keep_days: int) -> int:
    """Blank the raw badge values older than `keep_days`: in taps (their outcome and the
    value's keyed hash stay) and in audit entries of badges (none is written since
    migration 0018, which scrubbed the older ones: a database restored from elsewhere may
    still hold some); and drop the log of deliveries that old. Badges themselves keep no
    raw value (see badges.lookup)."""
    cutoff = now - timedelta(days=keep_days)
    result = session.execute(
        update(Tap)
        .where(Tap.occurred_at < cutoff, Tap.badge_value.is_not(None))
        .values(badge_value=None)
        .execution_options(synchronize_session=False)
    )
    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.at < cutoff,
            AuditEntry.action.startswith("badge."),
            cast(AuditEntry.details, Text).contains('"value"'),
        )
    ):
        entry.details = {key: item for key, item in entry.details.items() if key != "value"}
    session.execute(delete(JobRun).where(JobRun.ran_at < now - CLAIMS_KEPT))
    # Webhook calls and e-mails sent or given up: their log goes with the access data.
    session.execute(
        delete(Delivery).where(
            Delivery.created_at < now - timedelta(days=keep_days),
            Delivery.delivered_at.is_not(None) | Delivery.gave_up_at.is_not(None),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def whoami() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_once(
    app: Runtime, job: str, slot: str, work: Callable[[Session, datetime], int]
) -> int | None:
    """Run `work` for this slot unless another process has: None when it had."""
    now = app.now()
    try:
        with app.transaction() as session:
            claim = JobRun(job=job, slot=slot, ran_at=now, ran_by=whoami(), changed=0)
            session.add(claim)
            session.flush()  # a second claim of the slot fails here, before any work
            changed = claim.changed = work(session, now)
    except IntegrityError:
        return None
    except OperationalError as error:
        # The database is restarting or unreachable: not a bug to trace. The sweep's next
        # minute ends the same visits at the same closing times; the next day's retention
        # erases what today's would have.
        log.warning("%s %s waits for the database: %s", job, slot, error)
        return None
    if changed:
        log.info("%s %s: %d changed", job, slot, changed)
    return changed


def sweep(app: Runtime) -> int | None:
    """End overdue visits; the slot is the minute."""
    return run_once(app, SWEEP, f"{app.now():%Y-%m-%dT%H:%M}", close_expired_visits)


def retention(app: Runtime) -> int | None:
    """Erase old raw badge values, guests long gone and the names on past events' tickets;
    the slot is the day."""
    settings = app.settings.jobs
    photos: list[str | None] = []

    def erase(session: Session, now: datetime) -> int:
        photos.extend(erase_past_guests(session, now, settings.guest_retention_days))
        forgotten = forget_past_attendees(session, now, settings.guest_retention_days)
        return (
            erase_old_badge_values(session, now, settings.retention_days) + len(photos) + forgotten
        )

    changed = run_once(app, RETENTION, f"{app.now():%Y-%m-%d}", erase)
    if changed is not None:  # committed: the erased guests' photo files go too
        for photo in photos:
            delete_photo(app.settings.data_path, photo)
    return changed


def _zone(app: Runtime) -> ZoneInfo:
    with app.session() as session:
        return home_zone(session)


def retention_due(app: Runtime) -> bool:
    """Whether today's retention run time has passed (it then runs at start if needed)."""
    zone = _zone(app)
    hour, minute = map(int, app.settings.jobs.retention_at.split(":"))
    local = app.now().astimezone(zone)
    return local >= datetime.combine(local.date(), time(hour, minute), zone)


def start_scheduler(app: Runtime) -> BackgroundScheduler:
    """Schedule the jobs in a background thread of this process."""
    settings = app.settings.jobs
    hour, minute = map(int, settings.retention_at.split(":"))
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    )
    scheduler.add_job(
        sweep,
        IntervalTrigger(seconds=settings.sweep_seconds),
        args=[app],
        id=SWEEP,
        next_run_time=datetime.now(ZoneInfo("UTC")),
    )
    scheduler.add_job(
        retention,
        CronTrigger(hour=hour, minute=minute, timezone=_zone(app)),
        args=[app],
        id=RETENTION,
    )
    if retention_due(app):
        scheduler.add_job(retention, args=[app], id=RETENTION + "-catch-up")
    scheduler.start()
    return scheduler


def start_background(app: Runtime) -> tuple[BackgroundScheduler, Sender]:
    """What a server (or the `presence scheduler` process) runs beside requests: the
    scheduled jobs, and the sender of webhook calls and e-mails."""
    sender = Sender(app)
    sender.start()
    return start_scheduler(app), sender
