"""Persistence: SQLAlchemy 2.0 typed models.

The tap log (`Tap`) is append-only and the source of truth; `Visit` rows are derived from
it by `server.domain.presence` and can be rebuilt at any time.
"""

from __future__ import annotations

import enum
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SQLColumnExpression,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    event,
    false,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from badges.lookup import value_hash, value_hint


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored as naive UTC on every backend and read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a point in time is expected")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class epoch_microseconds(FunctionElement[int]):  # noqa: N801 (an SQL function)
    """Microseconds since 1970 of a `UTCDateTime` expression, worked out by the database:
    exact integers, for code that reads many times and only compares and subtracts them
    (parsing 250,000 stored times into datetimes was a third of a year's report)."""

    type = BigInteger()
    inherit_cache = True

    def __init__(self, moment: SQLColumnExpression[Any]) -> None:
        super().__init__(moment)


@compiles(epoch_microseconds)
def _epoch_sqlite(element: epoch_microseconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite times as 'YYYY-MM-DD HH:MM:SS.ffffff'. SQLite's own time
    # functions round to the millisecond (:59.999999 would be the next second), so
    # the whole seconds come from the text before the dot (unixepoch, or strftime, which
    # gives text, before SQLite 3.38) and the microseconds from the text after it.
    (moment,) = element.clauses
    seconds, fraction = (compiler.process(moment, **kw) for _ in range(2))
    if (compiler.dialect.server_version_info or (0,)) >= (3, 38):
        whole = f"unixepoch(substr({seconds}, 1, 19))"
    else:
        whole = f"CAST(strftime('%s', substr({seconds}, 1, 19)) AS INTEGER)"
    return f"({whole} * 1000000 + CAST(substr({fraction}, 21, 6) AS INTEGER))"


@compiles(epoch_microseconds, "postgresql")
def _epoch_postgresql(element: epoch_microseconds, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(moment, **kw)}) * 1000000 AS BIGINT)"


SECOND = 1_000_000  # in microseconds
MINUTE = 60 * SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds(moment: datetime) -> int:
    """An aware time in microseconds since 1970, as `epoch_microseconds` gives them."""
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * SECOND + since.microseconds


def moment_of(value: int, zone: ZoneInfo) -> datetime:
    """Microseconds since 1970 as an aware time in `zone`."""
    return (EPOCH + timedelta(microseconds=value)).astimezone(zone)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as readable strings with a CHECK constraint, the same on SQLite and PostgreSQL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Visibility(enum.StrEnum):
    """What a member lets the public side (board, SpaceAPI) show."""

    HIDDEN = "hidden"
    FIRST_NAME = "first_name"
    PROFILE = "profile"


class Plan(enum.StrEnum):
    PAYG = "payg"
    PACK = "pack"
    MONTHLY = "monthly"
    FREE = "free"


class BadgeKind(enum.StrEnum):
    NFC = "nfc"
    QR = "qr"


class KioskMode(enum.StrEnum):
    TOGGLE = "toggle"
    IN = "in"
    OUT = "out"


class TapKind(enum.StrEnum):
    BADGE = "badge"
    STAFF_IN = "staff_in"
    STAFF_OUT = "staff_out"
    AUTO_OUT = "auto_out"
    VOID = "void"


class Outcome(enum.StrEnum):
    """The answer to one tap, as given to the kiosk at the time."""

    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    DUPLICATE = "duplicate"
    UNKNOWN_BADGE = "unknown_badge"
    REVOKED = "revoked"
    ARCHIVED = "archived"
    INVALID = "invalid"


class VisitEnd(enum.StrEnum):
    TAP = "tap"
    AUTO = "auto"
    STAFF = "staff"


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class ClockStatus(enum.StrEnum):
    """How the server placed a tap in time."""

    CORRECTED = "corrected"  # from the kiosk's monotonic clock, checked against ours
    UNVERIFIED = "unverified"  # the kiosk's wall clock from an earlier boot, as given
    IMPLAUSIBLE = "implausible"  # no honest time (a wrong wall clock): the time of receipt
    SERVER = "server"  # entered on the server (staff), our own clock


class ReaderState(enum.StrEnum):
    """The kiosk's badge reader, as its last heartbeat said."""

    OK = "ok"
    GONE = "gone"  # unplugged, or dead
    STUCK = "stuck"  # plugged in, but a read stopped answering


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    """One physical space. Opening hours: weekday name -> list of ["HH:MM", "HH:MM"]."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    capacity: Mapped[int | None] = mapped_column(Integer)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the public side (SpaceAPI) says about the space; all optional.
    url: Mapped[str | None] = mapped_column(String(300))
    logo_url: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # The wall board: the hash of its display token, and the number of the last change
    # sent to boards (taken in the transaction that made the change).
    display_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    board_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    exceptions: Mapped[list[OpeningException]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="OpeningException.day"
    )


class OpeningException(Base):
    """Hours that replace the weekly ones on one date: a closure ([]) or an evening event."""

    __tablename__ = "opening_exceptions"
    __table_args__ = (UniqueConstraint("site_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    hours: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(String(200), default="")

    site: Mapped[Site] = relationship(back_populates="exceptions")


def folded(text: str) -> str:
    """Text as the member search compares it: accents dropped (NFKD), case folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class Member(Base):
    """A person with a badge. Erasure blanks the person and keeps the row as a tombstone."""

    __tablename__ = "members"
    # The members list in its order, with what its filters and search read: a page, a
    # late page, a search or a count walks this index alone, not the table.
    __table_args__ = (
        Index(
            "ix_members_by_name",
            "family_name",
            "given_name",
            "id",
            "erased_at",
            "archived_at",
            "is_guest",
            "search",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    skills: Mapped[list[Any]] = mapped_column(default=list)
    working_on: Mapped[str] = mapped_column(Text, default="")
    open_to_chat_about: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[str | None] = mapped_column(String(300))
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "visibility"), default=Visibility.HIDDEN
    )
    visibility_consent_at: Mapped[datetime | None]
    # A separate consent to be named on the internet (SpaceAPI), not only in the space.
    internet_consent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    # A guest is a person without a badge of their own, checked in for a day (at the
    # kiosk, or invited ahead with a one-day pass); `became_member_at` is when one joined.
    is_guest: Mapped[bool] = mapped_column(default=False, server_default=false())
    became_member_at: Mapped[datetime | None]
    # Agreed to be listed at the kiosk as someone guests can name as their host.
    host_consent_at: Mapped[datetime | None]
    # Parrainage: the member who brought this one in.
    sponsor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Agreed that members who ask are told when they arrive ("tell me when X arrives").
    arrival_alerts_at: Mapped[datetime | None]
    # Where this member's own arrival alerts go besides e-mail (Slack, Matrix...).
    alert_webhook_url: Mapped[str | None] = mapped_column(String(500))
    # Raised when staff replace the member's personal link: older links stop working.
    link_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # Who invoices are made out to (see server.domain.invoices): the person's name by
    # default; a company (with its SIREN or SIRET) needs its address.
    billing_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    billing_company: Mapped[str] = mapped_column(String(200), default="", server_default="")
    billing_siren: Mapped[str] = mapped_column(String(14), default="", server_default="")
    billing_street: Mapped[str] = mapped_column(String(200), default="", server_default="")
    billing_postcode: Mapped[str] = mapped_column(String(16), default="", server_default="")
    billing_city: Mapped[str] = mapped_column(String(100), default="", server_default="")
    billing_country: Mapped[str] = mapped_column(String(2), default="FR", server_default="FR")
    # The names and e-mail, `folded`, for the staff's search: kept by `_fold_names` on
    # every write; blank once the person is erased.
    search: Mapped[str] = mapped_column(Text, default="", server_default="")

    plans: Mapped[list[MemberPlan]] = relationship(
        back_populates="member", cascade="all, delete-orphan", order_by="MemberPlan.starts_on"
    )
    badges: Mapped[list[Badge]] = relationship(back_populates="member")
    sponsor: Mapped[Member | None] = relationship(remote_side=[id])

    @property
    def greeting_name(self) -> str:
        return self.display_name or self.given_name


def member_search_text(given: str, family: str, display: str, email: str | None) -> str:
    """A member's `search` column: what staff may type to find them."""
    return folded(" ".join(part for part in (given, family, display, email or "") if part))


@event.listens_for(Member, "before_insert")
@event.listens_for(Member, "before_update")
def _fold_names(mapper: Any, connection: Any, member: Member) -> None:
    """Keep `search` equal to the names and e-mail, whichever code wrote them."""
    member.search = member_search_text(
        member.given_name or "", member.family_name or "", member.display_name or "", member.email
    )


class MemberPlan(Base):
    """A plan from a start date on, so a change mid-month does not rewrite the past."""

    __tablename__ = "member_plans"
    __table_args__ = (UniqueConstraint("member_id", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    plan: Mapped[Plan] = mapped_column(_enum(Plan, "plan"))
    starts_on: Mapped[date] = mapped_column(Date)

    member: Mapped[Member] = relationship(back_populates="plans")


class Badge(Base):
    """What identifies a member at the door: an NFC UID (normalised hex) or a QR token
    (signed by the server, see badges.tokens), kept as its keyed hash only (see
    badges.lookup) with a few characters for staff to tell badges apart."""

    __tablename__ = "badges"
    __table_args__ = (Index("ix_badges_lookup", "value_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[BadgeKind] = mapped_column(_enum(BadgeKind, "badge_kind"))
    value_hash: Mapped[str] = mapped_column(String(64))
    value_hint: Mapped[str] = mapped_column(String(8), default="", server_default="")
    label: Mapped[str] = mapped_column(String(100), default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # A QR badge's value is its signed token, which names this version: re-issuing the
    # card (a lost phone screenshot, a reprint) bumps it and the old card stops working.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # A guest's pass opens the door on this day only (in its site's time zone).
    valid_on: Mapped[date | None] = mapped_column(Date)

    member: Mapped[Member] = relationship(back_populates="badges")

    def set_value(self, lookup_key: bytes, kind: BadgeKind, value: str) -> None:
        """Make this the badge of the normalised `value`: its hash and hint are stored,
        the value itself stays in this object's memory (`value`) and goes nowhere."""
        self.kind = kind
        self.value_hash = value_hash(lookup_key, kind.value, value)
        self.value_hint = value_hint(value)
        self.__dict__["_value"] = value

    @property
    def value(self) -> str:
        """The raw value, known only where this process has just set it."""
        known: str | None = self.__dict__.get("_value")
        if known is None:
            raise AttributeError("a badge's raw value is not kept, only its hash")
        return known


class Kiosk(Base):
    """A reader at a site's door, with its own API token (only its hash is stored)."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    mode: Mapped[KioskMode] = mapped_column(_enum(KioskMode, "kiosk_mode"), default="toggle")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    last_version: Mapped[str | None] = mapped_column(String(40))
    pending_taps: Mapped[int | None] = mapped_column(Integer)
    # The kiosk's wall clock minus ours, at its last heartbeat or upload that said it.
    clock_skew_seconds: Mapped[float | None] = mapped_column(Float)
    # What its clocks told us (see presence.place_in_time): the boot it last spoke from
    # and when that boot began, in our time; the boot before it; and the last time we
    # heard from it before that boot began.
    boot_id: Mapped[str | None] = mapped_column(String(64))
    boot_started_at: Mapped[datetime | None]
    previous_boot_id: Mapped[str | None] = mapped_column(String(64))
    previous_boot_started_at: Mapped[datetime | None]
    heard_before_boot_at: Mapped[datetime | None]
    # The last time one of its taps could not be placed in time honestly (its clock).
    clock_doubted_at: Mapped[datetime | None]
    reader: Mapped[ReaderState | None] = mapped_column(_enum(ReaderState, "reader_state"))

    site: Mapped[Site] = relationship()


class StaffUser(Base):
    """Someone who works in the office: manages members, badges and corrections."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"), default="staff")
    password_hash: Mapped[str] = mapped_column(String(200))
    # Raised at logout and at a password change: every session opened before ends.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class ApiScope(enum.StrEnum):
    """What an API token may do. Only reading, for now: a token never changes anything."""

    READ = "read"


class ApiToken(Base):
    """A staff API token for integrations (`/api/v1/visits`, members, statements): made
    and revoked by an admin; only its hash is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[ApiScope] = mapped_column(_enum(ApiScope, "api_scope"), default=ApiScope.READ)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    # Written at most once a minute (see server.domain.api_tokens.USE_PRECISION).
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(254))


class Tap(Base):
    """One entry of the append-only tap log, with the answer given at the time."""

    __tablename__ = "taps"
    __table_args__ = (
        Index("ix_taps_member_time", "member_id", "occurred_at", "tap_id"),
        Index("ix_taps_unknown", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique and set by the kiosk: it lets a batch of new entries go in one INSERT that
    # returns their ids in order (SQLAlchemy's "insert sentinel"), on SQLite too.
    tap_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, insert_sentinel=True)
    kind: Mapped[TapKind] = mapped_column(_enum(TapKind, "tap_kind"))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    # The kiosk's mode when the tap arrived: changing it later does not rewrite the past.
    mode: Mapped[KioskMode | None] = mapped_column(_enum(KioskMode, "kiosk_mode"))
    badge_kind: Mapped[BadgeKind | None] = mapped_column(_enum(BadgeKind, "badge_kind"))
    # The raw value read, for enrolling an unknown badge: blanked after `[jobs]
    # retention_days`; its keyed hash (badges.lookup.value_hash) stays, so that erasing a
    # person still finds the taps of their badges.
    badge_value: Mapped[str | None] = mapped_column(String(512))
    badge_hash: Mapped[str | None] = mapped_column(String(64))
    # What the badge resolved to when the tap arrived: reassigning or erasing a badge
    # later never moves an old tap to someone else.
    badge_id: Mapped[int | None] = mapped_column(ForeignKey("badges.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    actor: Mapped[str | None] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text, default="")
    read_at: Mapped[datetime | None]  # the kiosk's own wall clock, as sent
    occurred_at: Mapped[datetime]  # our best estimate of when it happened
    clock: Mapped[ClockStatus] = mapped_column(_enum(ClockStatus, "clock_status"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "outcome"))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # An event ticket read at the kiosk (or a walk-in's): no member, no visit.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # A `void` entry written by staff to withdraw a wrong one (see domain/corrections.py):
    # the withdrawn entry stays in the log as it was and no longer takes part.
    cancels_id: Mapped[int | None] = mapped_column(ForeignKey("taps.id"), index=True)

    @property
    def order_key(self) -> tuple[datetime, str]:
        """Where the tap stands in the log: by corrected time, ties broken by tap id."""
        return (self.occurred_at, str(self.tap_id))


class Visit(Base):
    """One stay, check-in to check-out, derived from the tap log."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_member_start", "member_id", "checked_in_at"),
        Index("ix_visits_present", "site_id", "checked_out_at", "closes_at"),
        Index("ix_visits_span", "site_id", "checked_in_at", "checked_out_at"),
        Index("ix_visits_site_day", "site_id", "local_day"),
        Index("ix_visits_day_member", "local_day", "member_id"),  # a month's statements
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None]
    # When the site's closing time ends this visit if no tap does first.
    closes_at: Mapped[datetime]
    ended_by: Mapped[VisitEnd | None] = mapped_column(_enum(VisitEnd, "visit_end"))
    # The entry that opened the visit: one visit per entry, so new visits go in one INSERT.
    in_tap_id: Mapped[int] = mapped_column(ForeignKey("taps.id"), insert_sentinel=True)
    out_tap_id: Mapped[int | None] = mapped_column(ForeignKey("taps.id"))
    # Kept for reports, which SQLite cannot compute per row in a time zone: the day the
    # visit began in its site's time zone, and its length once it has ended.
    local_day: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int | None] = mapped_column(Integer)

    member: Mapped[Member] = relationship()
    site: Mapped[Site] = relationship()
    in_tap: Mapped[Tap] = relationship(foreign_keys=[in_tap_id])

    def end(self, at: datetime, ended_by: VisitEnd, tap_id: int | None = None) -> None:
        """End the visit at `at` (the one way a visit ends: its length follows)."""
        self.checked_out_at, self.ended_by, self.out_tap_id = at, ended_by, tap_id
        self.minutes = int((at - self.checked_in_at).total_seconds() // 60)

    def is_open_at(self, moment: datetime) -> bool:
        if self.checked_out_at is not None:
            return self.checked_out_at > moment
        return self.closes_at > moment


class AuditEntry(Base):
    """What a staff member did, when, to what, and why: every staff action leaves one."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class GuestDay(Base):
    """A guest's day at a site and who invited them (no host: a guest of the space)."""

    __tablename__ = "guest_days"
    __table_args__ = (
        UniqueConstraint("guest_id", "site_id", "day"),
        Index("ix_guest_days_host_day", "host_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guest_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    day: Mapped[date] = mapped_column(Date)
    badge_id: Mapped[int | None] = mapped_column(ForeignKey("badges.id"))  # an invitation's pass
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")

    guest: Mapped[Member] = relationship(foreign_keys=[guest_id])
    host: Mapped[Member | None] = relationship(foreign_keys=[host_id])
    site: Mapped[Site] = relationship()


class Event(Base):
    """A talk, a workshop, an evening at a site (see server.domain.meetups)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_site_start", "site_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    brought_by: Mapped[str] = mapped_column(String(16))  # partner, community, cantine
    open_to_all: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    cancelled_at: Mapped[datetime | None]

    site: Mapped[Site] = relationship()


class Ticket(Base):
    """A place at an event: registered ahead (a QR ticket) or a walk-in; used once."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_event", "event_id", "checked_in_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    token: Mapped[str] = mapped_column(String(200))  # signed, see badges.tokens
    walk_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_in_at: Mapped[datetime | None]

    event: Mapped[Event] = relationship()


class Announcement(Base):
    """A short note on the boards' strip and the public page, until it expires (see
    server.domain.announcements): posted by staff, or proposed by a member and published."""

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_shown", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(280))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))  # None: every site
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # proposed, published, declined
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(254))

    proposed_by: Mapped[Member | None] = relationship()


class Webhook(Base):
    """A URL told of check-ins, check-outs, unknown badges and events (registered by staff)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[Any]] = mapped_column(default=list)  # names, see server.domain.webhooks
    format: Mapped[str] = mapped_column(String(16), default="json")  # json, slack, matrix
    secret: Mapped[str] = mapped_column(String(64))  # signs each delivery (HMAC-SHA256)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))  # None: every site
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    disabled_at: Mapped[datetime | None]


class Delivery(Base):
    """A message to send (a webhook call or an e-mail), written in the transaction of
    what it tells, then sent and retried with backoff until it is delivered or given up."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "delivered_at", "gave_up_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    channel: Mapped[str] = mapped_column(String(16))  # "webhook" or "email"
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(String(500))  # the URL or the e-mail address
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secret: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]  # a sender holds it until then
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")


class ArrivalWatch(Base):
    """A member asking to be told when another arrives (both must agree, see
    `Member.arrival_alerts_at`)."""

    __tablename__ = "arrival_watches"
    __table_args__ = (UniqueConstraint("watcher_id", "watched_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watcher_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    watched_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_on: Mapped[date | None] = mapped_column(Date)  # once a day at most


class PackPurchase(Base):
    """A pack of half-day credits bought by a member (plan `pack`), at its price then."""

    __tablename__ = "pack_purchases"
    __table_args__ = (Index("ix_pack_purchases_member", "member_id", "bought_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    bought_on: Mapped[date] = mapped_column(Date)
    credits: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(254), default="")


class Statement(Base):
    """A member's closed monthly statement: never changed once closed, and kept for the
    accounting period even after the member is erased (hence the name kept here)."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("member_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    month: Mapped[date] = mapped_column(Date)  # its first day
    member_name: Mapped[str] = mapped_column(String(210))
    total_cents: Mapped[int] = mapped_column(Integer)  # VAT included
    vat_cents: Mapped[int] = mapped_column(Integer)
    credits_left: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(254))


class BillingClosure(Base):
    """A month closed by staff: its statements are final from then on."""

    __tablename__ = "billing_closures"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(254))


class InvoiceKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # an avoir: corrects an invoice, which never changes


class PaymentMethod(enum.StrEnum):
    CASH = "cash"
    CARD = "card"
    TRANSFER = "transfer"
    HELLOASSO = "helloasso"
    CHEQUE = "cheque"


class InvoiceCounter(Base):
    """The last number given in one series (invoices, credit notes) of one legal entity
    (its SIREN): the row is locked while a number is taken, so numbers never skip or repeat."""

    __tablename__ = "invoice_counters"

    entity: Mapped[str] = mapped_column(String(14), primary_key=True)
    series: Mapped[str] = mapped_column(String(4), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    """An invoice issued from a closed statement, or a credit note correcting one. What
    it says (seller, buyer, lines, mentions) is kept as issued in `document` and never
    changes; its PDF and Factur-X are made from it."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("entity", "series", "number"),
        Index("ix_invoices_month", "month"),
        Index("ix_invoices_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(14))  # the seller's SIREN
    series: Mapped[str] = mapped_column(String(4))  # the prefix: "F", "A"
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... in its series
    label: Mapped[str] = mapped_column(String(32))  # "F-2026-000001", as printed
    kind: Mapped[InvoiceKind] = mapped_column(_enum(InvoiceKind, "invoice_kind"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))  # credit notes
    month: Mapped[date] = mapped_column(Date)  # the month of service, its first day
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    total_cents: Mapped[int] = mapped_column(Integer)  # VAT included, never negative
    vat_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")  # a credit note's
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(254))

    member: Mapped[Member] = relationship()
    corrects: Mapped[Invoice | None] = relationship(remote_side=[id])
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", order_by="Payment.paid_on, Payment.id"
    )


class Payment(Base):
    """Money received for an invoice (several for one paid in parts)."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_invoice", "invoice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    paid_on: Mapped[date] = mapped_column(Date)
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod, "payment_method"))
    amount_cents: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(254))

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class JobRun(Base):
    """One run of a scheduled job for one slot (a minute, a day): the row is the claim
    that makes a job run once however many processes schedule it."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), primary_key=True)
    ran_at: Mapped[datetime]
    ran_by: Mapped[str] = mapped_column(String(100))
    changed: Mapped[int] = mapped_column(Integer, default=0)


class Erasure(Base):
    """A person erased (GDPR), remembered so that a backup taken before is erased again
    when it is restored. Nothing here identifies the person: the tombstone's id, when that
    row was made (which tells the person from a later member given the same id), and
    when they were erased."""

    __tablename__ = "erasures"
    __table_args__ = (UniqueConstraint("member_id", "member_created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer)  # no foreign key: it outlives restores
    member_created_at: Mapped[datetime]
    erased_at: Mapped[datetime]
