"""Members: create, import from CSV, find; plans are kept with their start dates."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.domain.presence import normalise_badge
from server.domain.refusals import N_, Refusal
from server.store.models import (
    AuditEntry,
    Badge,
    BadgeKind,
    Member,
    MemberPlan,
    Plan,
    Tap,
    Visibility,
)


class MemberError(Refusal):
    """A member or a badge that cannot be added as asked."""

    MESSAGES = {
        "email_taken": N_("Un membre a déjà l'adresse %(email)s."),
        "badge_taken": N_("Le badge %(badge)s est déjà celui du membre %(member)s."),
    }


class MemberSchema(Schema):
    """What is needed to create a member (the CLI, CSV import and staff pages share it)."""

    class Meta:
        unknown = EXCLUDE

    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(load_default="", validate=validate.Length(max=100))
    display_name = fields.String(load_default="", validate=validate.Length(max=100))
    email = fields.Email(load_default=None, allow_none=True)
    language = fields.String(load_default="fr", validate=validate.OneOf(["fr", "en"]))
    plan = fields.String(load_default=Plan.PAYG.value, validate=validate.OneOf(list(Plan)))
    plan_starts_on = fields.Date(load_default=None, allow_none=True)
    skills = fields.List(fields.String(validate=validate.Length(max=60)), load_default=list)
    working_on = fields.String(load_default="", validate=validate.Length(max=500))
    open_to_chat_about = fields.String(load_default="", validate=validate.Length(max=500))
    visibility = fields.String(
        load_default=Visibility.HIDDEN.value, validate=validate.OneOf(list(Visibility))
    )


def first_error(error: ValidationError) -> tuple[str, str]:
    """The first field a member's data got wrong, and what is wrong with it."""
    name, messages = next(iter(error.normalized_messages().items()))
    texts = messages if isinstance(messages, list) else [messages]
    return str(name), " ".join(map(str, texts))


def add_member(session: Session, data: dict[str, Any], today: date) -> Member:
    """Create a member from already-validated data (see MemberSchema)."""
    if data.get("email") and find_member(session, data["email"]) is not None:
        raise MemberError("email_taken", email=data["email"])
    member = Member(
        given_name=data["given_name"].strip(),
        family_name=data.get("family_name", "").strip(),
        display_name=(data.get("display_name") or data["given_name"]).strip(),
        email=data.get("email") or None,
        language=data.get("language", "fr"),
        skills=list(data.get("skills") or []),
        working_on=data.get("working_on", ""),
        open_to_chat_about=data.get("open_to_chat_about", ""),
        visibility=Visibility(data.get("visibility", Visibility.HIDDEN)),
    )
    member.plans.append(
        MemberPlan(
            plan=Plan(data.get("plan", Plan.PAYG)), starts_on=data.get("plan_starts_on") or today
        )
    )
    session.add(member)
    session.flush()
    return member


def plan_on(member: Member, day: date) -> MemberPlan | None:
    """The plan in force for a member on a day (the last one started by then)."""
    started = [plan for plan in member.plans if plan.starts_on <= day]
    return started[-1] if started else None


def change_plan(member: Member, plan: Plan, starts_on: date) -> bool:
    """Put a member on `plan` from `starts_on`; False when that is already the case.

    Earlier days keep the plan they had, so past statements are unchanged; a change
    set for the same day again replaces the first one.
    """
    current = plan_on(member, starts_on)
    if current is not None and current.plan is plan:
        return False
    same_day = next((p for p in member.plans if p.starts_on == starts_on), None)
    if same_day is not None:
        same_day.plan = plan
    else:
        member.plans.append(MemberPlan(plan=plan, starts_on=starts_on))
        member.plans.sort(key=lambda p: p.starts_on)
    return True


def find_member(session: Session, key: str) -> Member | None:
    """A member by id (`42`) or e-mail address."""
    if key.isdigit():
        return session.get(Member, int(key))
    return session.scalar(select(Member).where(Member.email == key.strip().lower()))


@dataclass(frozen=True)
class ImportProblem:
    """What is wrong with one line of an import, for people to fix it.

    `kind` is "header" (no given_name column), "column" (an unknown column, in `value`),
    "field" (`column` of the line is wrong; `value` says how, in English) or "taken"
    (the e-mail in `value` is already a member's). `str()` says it in English, for the
    command line; the staff page says it in the reader's language."""

    line: int
    kind: str
    column: str = ""
    value: str = ""

    def __str__(self) -> str:
        if self.kind == "header":
            return f"line 1: the header must name at least given_name ({', '.join(CSV_COLUMNS)})"
        if self.kind == "column":
            return f"line 1: unknown column {self.value!r}"
        if self.kind == "taken":
            return f"line {self.line}: email: {self.value} is already a member"
        return f"line {self.line}: {self.column}: {self.value}"


@dataclass
class ImportReport:
    created: list[Member] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)


CSV_COLUMNS = (
    "given_name",
    "family_name",
    "display_name",
    "email",
    "language",
    "plan",
    "plan_starts_on",
    "skills",
    "working_on",
    "open_to_chat_about",
)


def import_csv(session: Session, text: str, today: date) -> ImportReport:
    """Create members from CSV (`,` or `;`); nothing is created if any line is wrong.

    `skills` holds several skills separated by `|`. Empty cells take the defaults.
    """
    report = ImportReport()
    sample = text[:2048]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), dialect=dialect)
    if not reader.fieldnames or "given_name" not in reader.fieldnames:
        report.errors.append(ImportProblem(1, "header"))
        return report
    unknown = [name for name in reader.fieldnames if name not in CSV_COLUMNS]
    if unknown:
        report.errors.append(ImportProblem(1, "column", value=unknown[0]))
        return report
    seen: set[str] = set()
    valid: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        cleaned = {key: (value or "").strip() for key, value in row.items() if key}
        raw: dict[str, Any] = {key: value for key, value in cleaned.items() if value}
        if "skills" in raw:
            raw["skills"] = [skill.strip() for skill in raw["skills"].split("|") if skill.strip()]
        if "email" in raw:
            raw["email"] = raw["email"].lower()
        try:
            data = MemberSchema().load(raw)
        except ValidationError as error:
            name, message = first_error(error)
            report.errors.append(ImportProblem(line, "field", name, message))
            continue
        email = data.get("email")
        if email and (email in seen or find_member(session, email) is not None):
            report.errors.append(ImportProblem(line, "taken", "email", email))
            continue
        if email:
            seen.add(email)
        valid.append(data)
    if not report.errors:  # every line is checked before any is written
        report.created = [add_member(session, data, today) for data in valid]
    return report


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(members: Iterable[Member]) -> str:
    """Members as CSV, in the columns `import_csv` reads (so an export imports back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for member in members:
        plan = member.plans[-1] if member.plans else None
        writer.writerow(
            _cell(str(value))
            for value in (
                member.given_name,
                member.family_name,
                member.display_name,
                member.email or "",
                member.language,
                plan.plan.value if plan else "",
                plan.starts_on.isoformat() if plan else "",
                "|".join(str(skill) for skill in member.skills),
                member.working_on,
                member.open_to_chat_about,
            )
        )
    return out.getvalue()


def assign_badge(
    session: Session, member: Member, kind: BadgeKind, raw_value: str, label: str, now: datetime
) -> Badge:
    """Give a member a badge; a badge value already active for someone is refused."""
    value = normalise_badge(kind, raw_value)
    taken = session.scalar(
        select(Badge).where(Badge.kind == kind, Badge.value == value, Badge.revoked_at.is_(None))
    )
    if taken is not None:
        raise MemberError("badge_taken", badge=value, member=taken.member_id)
    badge = Badge(member_id=member.id, kind=kind, value=value, label=label, issued_at=now)
    session.add(badge)
    session.flush()
    return badge


def active_members(session: Session) -> Iterable[Member]:
    return session.scalars(
        select(Member).where(Member.erased_at.is_(None)).order_by(Member.family_name, Member.id)
    )


def erase_member(session: Session, member: Member, now: datetime) -> None:
    """Erase a person (GDPR): keep an anonymous tombstone so past counts do not change.

    Names, e-mail, profile and photo are blanked; badges are revoked and their values
    dropped, also from the member's taps (the one rewrite the tap log allows: a badge
    UID identifies a person). Visits and taps stay, pointing at the tombstone.
    """
    member.given_name = member.family_name = member.display_name = ""
    member.email = member.photo = None
    member.skills = []
    member.working_on = member.open_to_chat_about = ""
    member.visibility = Visibility.HIDDEN
    member.visibility_consent_at = member.internet_consent_at = None
    member.archived_at = member.archived_at or now
    member.erased_at = now
    for badge in member.badges:
        badge.revoked_at = badge.revoked_at or now
        badge.value = f"erased-{badge.id}"
        badge.label = ""
    session.execute(
        update(Tap)
        .where(Tap.member_id == member.id)
        .values(badge_value=None)
        .execution_options(synchronize_session=False)
    )
    # The audit trail keeps what staff did, not the badge values that identify the person.
    for entry in session.scalars(
        select(AuditEntry).where(AuditEntry.target == f"member:{member.id}")
    ):
        if "value" in entry.details:
            entry.details = {key: v for key, v in entry.details.items() if key != "value"}
    session.flush()
