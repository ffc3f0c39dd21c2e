"""Members: create, import from CSV, find; plans are kept with their start dates."""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import (
    ColumnElement,
    Engine,
    Text,
    and_,
    cast,
    delete,
    event,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from server.domain.presence import normalise_badge
from server.domain.refusals import N_, Refusal
from server.domain.spreadsheets import cell, csv_text
from server.store.db import checkpoint, lookup_key
from server.store.models import (
    Announcement,
    ArrivalWatch,
    AuditEntry,
    Badge,
    BadgeKind,
    Delivery,
    Erasure,
    Member,
    MemberPlan,
    Plan,
    Tap,
    Ticket,
    Visibility,
    folded,
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


def search_words(query: str) -> list[str]:
    """The words of what staff typed, folded as the `search` column is (at most eight:
    a pasted paragraph is not a search)."""
    return folded(query).split()[:8]


def matching(query: str) -> ColumnElement[bool]:
    """Members whose names or e-mail hold every word of `query`, in any order, whatever
    the accents and the case (all members for an empty query)."""
    words = [
        word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        for word in search_words(query)
    ]
    if not words:
        return true()
    return and_(*(Member.search.like(f"%{word}%", escape="\\") for word in words))


@dataclass(frozen=True)
class ImportProblem:
    """What is wrong with one line of an import, for people to fix it.

    `kind` is "header" (no given_name column), "column" (an unknown column, in `value`),
    "field" (`column` of the line is wrong; `value` says how, in English), "taken"
    (the e-mail in `value` is already a member's), "cell_too_long" (a cell over
    `MAX_CELL` characters), "malformed" (not CSV from this line on; `value`: the
    parser's words) or "too_many" (more than `MAX_ROWS` members). `str()` says it in
    English, for the command line; the staff page says it in the reader's language."""

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
        if self.kind == "cell_too_long":
            return f"line {self.line}: a cell is longer than {MAX_CELL} characters"
        if self.kind == "malformed":
            return f"line {self.line}: not CSV ({self.value})"
        if self.kind == "too_many":
            return f"line {self.line}: at most {MAX_ROWS} members per import"
        return f"line {self.line}: {self.column}: {self.value}"


@dataclass
class ImportReport:
    created: list[Member] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)
    #: While reading: the lines found valid, and the line being read.
    valid: list[dict[str, Any]] = field(default_factory=list)
    line: int = 1


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
#: The Excel export's headers, in the order of CSV_COLUMNS; an import reads them too, so
#: the Excel export imports back as the plain one does.
CSV_COLUMNS_FR = (
    "prénom",
    "nom",
    "nom affiché",
    "e-mail",
    "langue",
    "formule",
    "début de la formule",
    "compétences",
    "travaille sur",
    "pour parler de",
)
FROM_FRENCH = dict(zip(CSV_COLUMNS_FR, CSV_COLUMNS, strict=True))


#: The most members one import creates, and the longest cell it reads (the longest
#: column holds 500 characters): a bigger file is a mistake, and costs what it weighs.
MAX_ROWS = 5000
MAX_CELL = 4096


def import_csv(session: Session, text: str, today: date) -> ImportReport:
    """Create members from CSV (`,` or `;`); nothing is created if any line is wrong.

    `skills` holds several skills separated by `|`. Empty cells take the defaults.
    """
    report = ImportReport()
    try:
        _read_csv(session, text, report)
    except csv.Error as error:  # the csv module's own limit is 128 KiB a cell
        line = report.line
        if "field larger than field limit" in str(error):
            report.errors.append(ImportProblem(line, "cell_too_long"))
        else:
            report.errors.append(ImportProblem(line, "malformed", value=str(error)))
        report.valid.clear()
    if not report.errors:  # every line is checked before any is written
        report.created = [add_member(session, data, today) for data in report.valid]
    report.valid.clear()
    return report


def _read_csv(session: Session, text: str, report: ImportReport) -> None:
    """Check every line of `text`, keeping the valid ones and the problems in `report`."""
    sample = text[:2048]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), dialect=dialect)
    report.line = 1
    if reader.fieldnames:
        reader.fieldnames = [FROM_FRENCH.get(name, name) for name in reader.fieldnames]
    if not reader.fieldnames or "given_name" not in reader.fieldnames:
        report.errors.append(ImportProblem(1, "header"))
        return
    unknown = [name for name in reader.fieldnames if name not in CSV_COLUMNS]
    if unknown:
        report.errors.append(ImportProblem(1, "column", value=unknown[0]))
        return
    seen: set[str] = set()
    valid = report.valid
    report.line = reader.line_num + 1
    for line, row in enumerate(reader, start=2):
        report.line = reader.line_num + 1  # where a csv.Error would be: the next line
        if line > MAX_ROWS + 1:
            report.errors.append(ImportProblem(line, "too_many"))
            return
        long_cell = next((key for key, value in row.items() if len(value or "") > MAX_CELL), None)
        if long_cell is not None:
            report.errors.append(ImportProblem(line, "cell_too_long", str(long_cell)))
            continue
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


def export_csv(members: Iterable[Member], excel: bool = False) -> str:
    """Members as CSV, in the columns `import_csv` reads (so an export imports back);
    `excel`: for a French spreadsheet (`;`, BOM, French headers; the values stay the codes
    the import reads: `fr`, `payg`, ISO dates)."""
    rows = []
    for member in members:
        plan = member.plans[-1] if member.plans else None
        rows.append(
            [
                cell(str(value))
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
            ]
        )
    # The plain file keeps its "\n" line ends: scripts already read it.
    ends = "\r\n" if excel else "\n"
    return csv_text(CSV_COLUMNS_FR if excel else CSV_COLUMNS, rows, excel, lineterminator=ends)


def assign_badge(
    session: Session, member: Member, kind: BadgeKind, raw_value: str, label: str, now: datetime
) -> Badge:
    """Give a member a badge; a badge value already active for someone is refused."""
    value = normalise_badge(kind, raw_value)
    badge = Badge(member_id=member.id, label=label, issued_at=now)
    badge.set_value(lookup_key(session), kind, value)
    taken = session.scalar(
        select(Badge).where(Badge.value_hash == badge.value_hash, Badge.revoked_at.is_(None))
    )
    if taken is not None:
        raise MemberError("badge_taken", badge=value, member=taken.member_id)
    session.add(badge)
    session.flush()
    return badge


def active_members(session: Session) -> Iterable[Member]:
    return session.scalars(
        select(Member).where(Member.erased_at.is_(None)).order_by(Member.family_name, Member.id)
    )


def erase_member(session: Session, member: Member, now: datetime) -> None:
    """Erase a person (GDPR): keep an anonymous tombstone so past counts do not change.

    Names, e-mail, profile, photo, consents and alert address are blanked; badges are
    revoked and their values dropped, also from the taps (the one rewrite the tap log
    allows: a badge UID identifies a person), with the name the kiosk answered. Visits and
    taps stay, pointing at the tombstone. What else named the person goes: messages sent
    or waiting to be sent about them or to them, their requests to be told of arrivals
    (either way), the announcements they proposed, their event tickets, and their name
    and e-mail in the audit trail. Their closed statements keep the name (accounting
    records, kept ten years). The erasure is logged (`Erasure`, no personal data) for
    `presence restore`; once committed, SQLite's log is checkpointed so the old pages
    leave the `-wal` file (the pages themselves are zeroed: `secure_delete`).
    """
    needles = _identifying(member)
    badge_hashes = [badge.value_hash for badge in member.badges]
    _forget_messages(session, member, needles)
    _forget_traces(session, member, needles)
    member.given_name = member.family_name = member.display_name = ""
    member.email = member.photo = member.alert_webhook_url = None
    member.skills = []
    member.working_on = member.open_to_chat_about = ""
    # Billing details go too; issued invoices keep the buyer as they named them (the
    # accounting period's legal retention, like closed statements).
    member.billing_name = member.billing_company = member.billing_siren = ""
    member.billing_street = member.billing_postcode = member.billing_city = ""
    member.visibility = Visibility.HIDDEN
    member.visibility_consent_at = member.internet_consent_at = None
    member.host_consent_at = member.arrival_alerts_at = None
    member.archived_at = member.archived_at or now
    member.erased_at = member.erased_at or now
    for badge in member.badges:
        badge.revoked_at = badge.revoked_at or now
        badge.value_hash = f"erased-{badge.id}"
        badge.value_hint = badge.label = ""
    # The member's taps, and those of their badges before they were theirs (unknown),
    # found by the badge's hash (it outlives the raw value, blanked after retention_days).
    whose = Tap.member_id == member.id
    if badge_hashes:
        whose = or_(whose, Tap.badge_hash.in_(badge_hashes))
    session.execute(
        update(Tap)
        .where(whose, Tap.badge_value.is_not(None) | Tap.badge_hash.is_not(None))
        .values(badge_value=None, badge_hash=None)
        .execution_options(synchronize_session=False)
    )
    answers = [
        {"id": tap_id, "response": {**response, "name": None}}
        for tap_id, response in session.execute(
            select(Tap.id, Tap.response).where(Tap.member_id == member.id)
        )
        if response.get("name")
    ]
    if answers:  # the first answer, given again on a replay, is kept without the name
        session.execute(update(Tap), answers)
    logged = session.scalar(
        select(Erasure.id).where(
            Erasure.member_id == member.id, Erasure.member_created_at == member.created_at
        )
    )
    if logged is None:
        session.add(
            Erasure(
                member_id=member.id,
                member_created_at=member.created_at,
                erased_at=member.erased_at,
            )
        )
    session.flush()
    if not session.info.get(_CHECKPOINT):
        session.info[_CHECKPOINT] = True
        event.listen(session, "after_commit", _checkpoint, once=True)


_CHECKPOINT = "presence.members.checkpoint"
#: A delivery this close to one of the person's taps was made by it (the same commit).
_SAME_COMMIT = timedelta(minutes=2)


def _checkpoint(session: Session) -> None:
    session.info.pop(_CHECKPOINT, None)
    bind = session.get_bind()
    checkpoint(bind if isinstance(bind, Engine) else bind.engine)


def _identifying(member: Member) -> tuple[set[str], set[str]]:
    """What names the person in stored text: their names (shared by others, maybe), and
    what is theirs alone (e-mail, alert address)."""
    names = {
        member.given_name.strip(),
        member.display_name.strip(),
        f"{member.given_name} {member.family_name}".strip(),
    }
    own = {member.email or "", member.alert_webhook_url or ""}
    return {n for n in names if n}, {o for o in own if o}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _mentions(text: str, needles: Iterable[str]) -> bool:
    return any(
        re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", text, re.IGNORECASE) for needle in needles
    )


def _scrub(text: str, needles: Iterable[str]) -> str:
    for needle in sorted(needles, key=len, reverse=True):  # "Alice Martin" before "Alice"
        text = re.sub(rf"(?<!\w){re.escape(needle)}(?!\w)", "…", text, flags=re.IGNORECASE)
    return text


def _forget_messages(session: Session, member: Member, needles: tuple[set[str], set[str]]) -> None:
    """Delete the deliveries (webhook calls, e-mails; sent, failed or waiting) that name
    the person or go to them. A name alone may be someone else's too: when another
    member bears it, only the messages made with one of this person's taps count."""
    names, own = needles
    shared = bool(names) and session.scalar(
        select(Member.id)
        .where(
            Member.id != member.id,
            Member.erased_at.is_(None),
            or_(Member.given_name.in_(names), Member.display_name.in_(names)),
        )
        .limit(1)
    )
    taps = sorted(session.scalars(select(Tap.received_at).where(Tap.member_id == member.id)).all())

    def theirs(delivery: Delivery) -> bool:
        if delivery.target in own:
            return True
        texts = list(_strings(delivery.payload))
        if any(_mentions(text, own) for text in texts):
            return True
        if not any(_mentions(text, names) for text in texts):
            return False
        if not shared:
            return True
        near = bisect.bisect_left(taps, delivery.created_at - _SAME_COMMIT)
        return near < len(taps) and taps[near] <= delivery.created_at + _SAME_COMMIT

    # All of them: the log of those sent is kept only `retention_days` (the retention job).
    doomed = [delivery.id for delivery in session.scalars(select(Delivery)) if theirs(delivery)]
    if doomed:
        session.execute(
            delete(Delivery)
            .where(Delivery.id.in_(doomed))
            .execution_options(synchronize_session=False)
        )


def _forget_traces(session: Session, member: Member, needles: tuple[set[str], set[str]]) -> None:
    """The person's links with others, their own words, and their name in the audit trail."""
    names, own = needles
    session.execute(
        delete(ArrivalWatch).where(
            or_(ArrivalWatch.watcher_id == member.id, ArrivalWatch.watched_id == member.id)
        )
    )
    session.execute(delete(Announcement).where(Announcement.proposed_by_id == member.id))
    if member.email:  # tickets bear a name and an e-mail, no member: the e-mail tells
        session.execute(
            update(Ticket)
            .where(func.lower(Ticket.email) == member.email.lower())
            .values(name="", email=None)
            .execution_options(synchronize_session=False)
        )
    # The audit trail keeps what staff did and why, not what identifies the person: the
    # badge values, and their names and e-mail (anywhere for the e-mail, theirs alone).
    target = f"member:{member.id}"
    entries = select(AuditEntry).where(AuditEntry.target == target)
    if own:
        entries = select(AuditEntry).where(
            or_(
                AuditEntry.target == target,
                *(AuditEntry.reason.contains(o) for o in own),
                *(cast(AuditEntry.details, Text).contains(o) for o in own),
            )
        )
    for entry in session.scalars(entries):
        hidden = own | (names if entry.target == target else set())
        details = {
            key: _scrub(value, hidden) if isinstance(value, str) else value
            for key, value in entry.details.items()
            if not (key == "value" and entry.target == target)
        }
        if details != entry.details:
            entry.details = details
        reason = _scrub(entry.reason, hidden)
        if reason != entry.reason:
            entry.reason = reason


def erase_again(
    session: Session, log: Iterable[tuple[int, datetime, datetime]]
) -> list[str | None]:
    """Apply a log of erasures (member id, when that member was made, when erased) to
    this database, as after restoring a backup taken before some of them: each line is
    added to this database's own log, and the people still here are erased again, on
    their first erasure's date. The photo address of each person erased again (None for
    most), for the caller to delete once this is committed."""
    erased: list[str | None] = []
    for member_id, created_at, erased_at in log:
        found = session.get(Member, member_id)
        if found is not None and found.created_at == created_at and found.erased_at is None:
            erased.append(found.photo)
            erase_member(session, found, erased_at)
        elif not session.scalar(
            select(Erasure.id).where(
                Erasure.member_id == member_id, Erasure.member_created_at == created_at
            )
        ):
            session.add(
                Erasure(member_id=member_id, member_created_at=created_at, erased_at=erased_at)
            )
            session.flush()
    return erased
