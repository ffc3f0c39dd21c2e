"""Server subcommands of `presence` (loaded lazily by presence.cli)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from presence.config import ConfigError
from server.i18n import refusal_text
from server.runtime import Runtime
from server.settings import Settings, badge_lookup_key, load_settings
from server.store.db import is_sqlite, make_engine, make_session_factory, transaction


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings((ctx.find_root().obj or {}).get("config"))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def open_runtime(ctx: click.Context) -> Runtime:
    """Settings and database for a command; the embedded SQLite is brought up to date."""
    from server.store import migrate

    settings = _settings(ctx)
    engine = make_engine(settings.database_url)
    if not migrate.is_up_to_date(engine):
        if is_sqlite(engine):
            migrate.upgrade(engine, lookup_key=badge_lookup_key(settings))
        else:
            raise click.ClickException(
                "the database schema is not up to date: run 'presence db upgrade' first"
            )
    runtime = Runtime(settings, engine, make_session_factory(engine))
    if settings.server.redis_url:
        # Changes made here reach the boards through the servers' message queue.
        from server.web.live import external_publisher

        server = settings.server
        runtime.board.publish = external_publisher(server.redis_url, server.redis_channel)
    return runtime


@contextmanager
def writing(ctx: click.Context) -> Iterator[tuple[Runtime, Session]]:
    runtime = open_runtime(ctx)
    try:
        with transaction(runtime.sessions) as session:
            yield runtime, session
    finally:
        runtime.engine.dispose()


#: The address people and screens reach the server at, for the links commands print.
base_url_option = click.option(
    "--base-url",
    help="Where people and screens reach the server [default: [server] public_url, "
    "else http://HOST:PORT from the configuration].",
)


def _member(session: Session, key: str) -> Any:
    """A member by id or e-mail (not an erased one), else a one-line error."""
    from server.domain.members import find_member

    found = find_member(session, key)
    if found is None or found.erased_at is not None:
        raise click.ClickException(f"no member {key!r} (give an id or an e-mail)")
    return found


def fail(message: str) -> None:
    raise click.ClickException(message)


# -- serve ------------------------------------------------------------------------------


@click.command()
@click.option("--host", help="Address to listen on (default: [server] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [server] port).")
@click.option(
    "--connections",
    type=click.IntRange(10, 100_000),
    help="Most connections at once: screens, kiosks, pages (default: [server] connections).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, connections: int | None) -> None:
    """Run the server (creating the embedded database on first run)."""
    from server import create_app
    from server.cli.serving import run
    from server.logs import configure_logging

    runtime = open_runtime(ctx)
    runtime.engine.dispose()
    settings = runtime.settings
    configure_logging(settings)
    host = host or settings.server.host
    port = port or settings.server.port
    # The address it listens on is one the server answers to (and links' default base).
    listening = settings.server.model_copy(update={"host": host, "port": port})
    settings = settings.model_copy(update={"server": listening})
    click.echo(f"Présence is running at http://{host}:{port}/  (Ctrl+C to stop)", err=True)
    connections = connections or settings.server.connections
    run(lambda: create_app(settings, async_mode="gevent"), host, port, connections=connections)


@click.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run the scheduled jobs and send webhook calls and e-mails in this process, until
    stopped (instead of, or beside, the servers' own: each job run and each delivery is
    claimed in the database, so it happens once)."""
    import signal
    import threading

    from server.jobs.scheduler import start_background
    from server.logs import configure_logging

    runtime = open_runtime(ctx)
    configure_logging(runtime.settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    jobs, sender = start_background(runtime)
    click.echo("Présence scheduler running (Ctrl+C to stop)", err=True)
    stop.wait()
    jobs.shutdown(wait=True)
    sender.stop()


# -- db ---------------------------------------------------------------------------------


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the database, or bring it to the current schema."""
    from server.store import migrate

    settings = _settings(ctx)
    engine = make_engine(settings.database_url)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, lookup_key=badge_lookup_key(settings))
    after = migrate.current_revision(engine)
    engine.dispose()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    click.echo(f"{url}: {before or 'empty'} -> {after}")


@db.command("schema")
def db_schema() -> None:
    """Print the readable DDL of the current schema (what schema.sql holds)."""
    from server.store import migrate

    click.echo(migrate.schema_sql(), nl=False)


# -- sites ------------------------------------------------------------------------------


@click.group()
def sites() -> None:
    """Physical spaces, with their time zone and opening hours."""


@sites.command("add")
@click.argument("name")
@click.option("--slug", help="Short name used in URLs (default: from the name).")
@click.option("--timezone", default="Europe/Paris", show_default=True)
@click.option("--capacity", type=int)
@click.option(
    "--hours",
    default="mon-fri 09:00-19:00",
    show_default=True,
    help="Weekly hours, e.g. 'mon-fri 09:00-19:00, sat 10:00-13:00'.",
)
@click.option("--url", help="The space's website (SpaceAPI).")
@click.option("--logo-url", help="Logo address (SpaceAPI; default: Présence's logo).")
@click.option("--contact-email", help="Public contact address (SpaceAPI).")
@click.option("--address", help="Postal address (SpaceAPI).")
@click.option("--lat", type=click.FloatRange(-90, 90), help="Latitude (SpaceAPI).")
@click.option("--lon", type=click.FloatRange(-180, 180), help="Longitude (SpaceAPI).")
@click.pass_context
def sites_add(
    ctx: click.Context,
    /,
    name: str,
    slug: str | None,
    timezone: str,
    capacity: int | None,
    hours: str,
    **public: str | float | None,
) -> None:
    """Add a site."""
    from server.domain.hours import HoursError, parse_weekly
    from server.domain.sites import SiteError, add_site

    try:
        weekly = parse_weekly(hours)
    except HoursError as error:
        raise click.BadParameter(refusal_text(error, "en"), param_hint="--hours") from None
    with writing(ctx) as (_runtime, session):
        try:
            site = add_site(
                session,
                name,
                slug=slug,
                timezone=timezone,
                capacity=capacity,
                hours=weekly,
                **public,
            )
        except SiteError as error:
            raise click.ClickException(refusal_text(error, "en")) from None
        click.echo(f"site {site.slug}: {site.name} ({site.timezone})")


@sites.command("board-link")
@click.argument("slug")
@base_url_option
@click.option("--lang", type=click.Choice(["fr", "en"]), help="The board's language.")
@click.pass_context
def sites_board_link(ctx: click.Context, slug: str, base_url: str | None, lang: str | None) -> None:
    """Issue the link a wall screen opens to show SLUG's board.

    Only a hash of its key is kept, so each call makes a new link and the previous one
    stops working: screens left on the old link show that they must be given the new one.
    """
    from urllib.parse import urlencode

    from server.domain.sites import find_site, issue_display_token

    with writing(ctx) as (runtime, session):
        site = find_site(session, slug)
        if site is None:
            raise click.ClickException(f"no site {slug!r} (see 'presence sites list')")
        query = {"token": issue_display_token(site)} | ({"lang": lang} if lang else {})
        address = (base_url or runtime.settings.server.address()).rstrip("/")
        click.echo(f"{address}/board/{site.slug}?{urlencode(query)}")
        click.echo("(any earlier link for this site no longer works)", err=True)


@sites.command("list")
@click.pass_context
def sites_list(ctx: click.Context) -> None:
    """List the sites."""
    from server.store.models import Site

    with writing(ctx) as (_runtime, session):
        for site in session.scalars(select(Site).order_by(Site.id)):
            click.echo(f"{site.slug}\t{site.name}\t{site.timezone}\tcapacity {site.capacity}")


# -- members ----------------------------------------------------------------------------


@click.group()
def members() -> None:
    """People with a badge."""


@members.command("add")
@click.option("--given-name", required=True)
@click.option("--family-name", default="")
@click.option("--display-name", default="", help="Name on the board (default: given name).")
@click.option("--email")
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option(
    "--plan",
    type=click.Choice(["payg", "pack", "monthly", "free"]),
    default="payg",
    show_default=True,
)
@click.option(
    "--visibility",
    type=click.Choice(["hidden", "first_name", "profile"]),
    default="hidden",
    show_default=True,
    help="What the board shows; only as the member chose (they can change it by link).",
)
@click.option("--skills", default="", help="Comma-separated, e.g. 'Python, accessibilité'.")
@click.option("--working-on", default="", help="What they work on (shown at 'profile').")
@click.option("--open-to-chat-about", default="", help="Shown at 'profile'.")
@click.pass_context
def members_add(ctx: click.Context, /, **options: Any) -> None:
    """Add a member."""
    from marshmallow import ValidationError

    from server.domain.members import MemberError, MemberSchema, add_member, first_error

    options["skills"] = [skill.strip() for skill in options["skills"].split(",") if skill.strip()]
    raw = {key: value for key, value in options.items() if value not in (None, "")}
    try:
        data = MemberSchema().load(raw)
    except ValidationError as error:
        name, message = first_error(error)
        raise click.BadParameter(message, param_hint=f"--{name.replace('_', '-')}") from None
    with writing(ctx) as (runtime, session):
        try:
            member = add_member(session, data, runtime.now().date())
        except MemberError as error:
            raise click.ClickException(refusal_text(error, "en")) from None
        click.echo(f"member {member.id}: {member.given_name} {member.family_name}".rstrip())


@members.command("list")
@click.pass_context
def members_list(ctx: click.Context) -> None:
    """List members with their badges."""
    from server.domain.members import active_members

    with writing(ctx) as (_runtime, session):
        for member in active_members(session):
            badges = (
                ", ".join(f"{b.id}:…{b.value_hint}" for b in member.badges if b.revoked_at is None)
                or "-"
            )
            state = " (archived)" if member.archived_at else ""
            click.echo(
                f"{member.id}\t{member.given_name} {member.family_name}\t"
                f"{member.email or '-'}\t{member.visibility.value}\t{badges}{state}"
            )


@members.command("link")
@click.argument("member")
@base_url_option
@click.pass_context
def members_link(ctx: click.Context, member: str, base_url: str | None) -> None:
    """Print the signed link with which MEMBER chooses what the board shows of them."""
    from server.domain.links import LINK_DAYS, make_member_token
    from server.settings import secret_key

    with writing(ctx) as (runtime, session):
        found = _member(session, member)
        token = make_member_token(secret_key(runtime.settings), found.id, found.link_generation)
        address = (base_url or runtime.settings.server.address()).rstrip("/")
        click.echo(f"{address}/me/{token}")
        click.echo(f"(valid {LINK_DAYS} days; send it to {found.given_name} only)", err=True)


@members.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.pass_context
def members_import(ctx: click.Context, csv_file: Any) -> None:
    """Create members from a CSV file; nothing is imported if a line is wrong."""
    from server.domain.members import import_csv

    text = csv_file.read()
    with writing(ctx) as (runtime, session):
        report = import_csv(session, text, runtime.now().date())
        if report.errors:
            for message in report.errors:
                click.echo(f"{csv_file.name}: {message}", err=True)
            session.rollback()
            raise click.ClickException(f"nothing imported: {len(report.errors)} line(s) to fix")
        click.echo(f"imported {len(report.created)} member(s)")


# -- badges -----------------------------------------------------------------------------


@click.group()
def badges() -> None:
    """Badges: NFC tags and QR codes."""


@badges.command("assign")
@click.argument("member")
@click.argument("value")
@click.option("--kind", type=click.Choice(["nfc", "qr"]), default="nfc", show_default=True)
@click.option("--label", default="")
@click.pass_context
def badges_assign(ctx: click.Context, member: str, value: str, kind: str, label: str) -> None:
    """Give MEMBER (id or e-mail) the badge VALUE (an NFC UID such as 04:A2:24:B2)."""
    from badges.uid import BadUid
    from server.domain.members import MemberError, assign_badge
    from server.store.models import BadgeKind

    with writing(ctx) as (runtime, session):
        found = _member(session, member)
        try:
            badge = assign_badge(session, found, BadgeKind(kind), value, label, runtime.now())
        except BadUid as error:
            raise click.ClickException(str(error)) from None
        except MemberError as error:
            raise click.ClickException(refusal_text(error, "en")) from None
        click.echo(f"badge {badge.value} -> member {found.id} ({found.given_name})")


def _badge(session: Session, key: str) -> Any:
    """A badge by id, or by value (an NFC UID, a QR token)."""
    from badges.uid import BadUid, normalise_uid
    from server.domain.credentials import hash_value
    from server.store.models import Badge, BadgeKind

    if key.isdigit():
        found = session.get(Badge, int(key))
    else:
        try:
            hashed = hash_value(session, BadgeKind.NFC, normalise_uid(key))
        except BadUid:
            hashed = hash_value(session, BadgeKind.QR, key.strip())
        found = session.scalar(
            select(Badge).where(Badge.value_hash == hashed).order_by(Badge.id.desc()).limit(1)
        )
    if found is None:
        raise click.ClickException(f"no badge {key!r} (give its id, UID or token)")
    return found


@badges.command("issue-qr")
@click.argument("member")
@click.option("--label", default="", help="Printed on the card, e.g. 'carte 2026'.")
@click.pass_context
def badges_issue_qr(ctx: click.Context, member: str, label: str) -> None:
    """Give MEMBER (id or e-mail) a signed QR badge; print its token (the QR's content)."""
    from server.domain.credentials import issue_qr

    with writing(ctx) as (runtime, session):
        found = _member(session, member)
        badge = issue_qr(session, found, label, runtime.now(), runtime.badge_private_key)
        click.echo(badge.value)
        click.echo(f"(badge {badge.id} for {found.given_name})", err=True)


@badges.command("write-nfc")
@click.argument("member")
@click.option(
    "--device",
    default="usb",
    show_default=True,
    help="nfcpy device of the office's reader (usb, tty:USB0:pn532, ...).",
)
@click.option(
    "--targets", default="106A", show_default=True, help="Tag technologies, comma-separated."
)
@click.option("--label", default="NFC", show_default=True)
@click.option("--timeout", type=click.FloatRange(1, 300), default=30, show_default=True)
@click.pass_context
def badges_write_nfc(
    ctx: click.Context, member: str, device: str, targets: str, label: str, timeout: float
) -> None:
    """Write a signed token for MEMBER on an NTAG badge held to the reader.

    Kiosks read the token in preference to the tag's UID: a token cannot be forged,
    where a UID can be copied onto another card. The badge is created only once the
    token has been written and read back.
    """
    from badges.ndef import WriteError, write_token
    from server.domain.credentials import issue_qr

    with writing(ctx) as (runtime, session):
        found = _member(session, member)
        badge = issue_qr(session, found, label, runtime.now(), runtime.badge_private_key)
        click.echo(f"hold {found.given_name}'s badge to the reader ({device}) ...", err=True)
        try:
            uid = write_token(device, badge.value, targets.split(","), timeout)
        except ImportError:
            raise click.ClickException(
                "writing NFC badges needs nfcpy: pip install nfcpy"
            ) from None
        except WriteError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"badge {badge.id} written on tag {uid} for {found.given_name}")


@badges.command("reissue")
@click.argument("badge")
@click.pass_context
def badges_reissue(ctx: click.Context, badge: str) -> None:
    """Make a new card for a QR BADGE (id or token): the previous card stops working."""
    from server.domain.credentials import reissue_qr

    with writing(ctx) as (runtime, session):
        found = _badge(session, badge)
        try:
            token = reissue_qr(session, found, runtime.badge_private_key)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        click.echo(token)
        click.echo(f"(badge {found.id}, version {found.version})", err=True)


@badges.command("revoke")
@click.argument("badge")
@click.pass_context
def badges_revoke(ctx: click.Context, badge: str) -> None:
    """Revoke BADGE (id, UID or token): it opens nothing from its next tap on."""
    from server.domain.credentials import revoke

    with writing(ctx) as (runtime, session):
        found = _badge(session, badge)
        revoke(found, runtime.now())
        click.echo(f"badge {found.id} revoked ({found.kind.value}, member {found.member_id})")


@badges.command("print")
@click.argument("members", nargs=-1)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="The PDF: A4 pages of CR80 cards with cut marks (default: badges.pdf in the data folder).",
)
@click.option("--png-dir", type=click.Path(file_okay=False), help="Also a PNG per card here.")
@click.option("--svg-dir", type=click.Path(file_okay=False), help="Also an SVG per card here.")
@click.pass_context
def badges_print(
    ctx: click.Context,
    members: tuple[str, ...],
    out: str | None,
    png_dir: str | None,
    svg_dir: str | None,
) -> None:
    """Print the QR badges of MEMBERS (ids or e-mails; none: every active QR badge)."""
    from pathlib import Path

    from badges.cards import qr_png, qr_svg
    from server.domain.credentials import cards_sheet, printable_badges

    with writing(ctx) as (runtime, session):
        ids = [_member(session, key).id for key in members] if members else None
        printable = printable_badges(session, runtime.badge_private_key, ids)
        if not printable:
            raise click.ClickException("no QR badge to print: issue one with 'badges issue-qr'")
        cards = [card for _badge, card in printable]
        sheet = cards_sheet(session, runtime.settings.cards, cards)
        out = out or str(runtime.settings.data_path / "badges.pdf")
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(sheet)
        for folder, suffix in ((png_dir, "png"), (svg_dir, "svg")):
            if folder is None:
                continue
            Path(folder).mkdir(parents=True, exist_ok=True)
            for badge, card in printable:
                path = Path(folder) / f"badge-{badge.id}.{suffix}"
                if suffix == "png":
                    path.write_bytes(qr_png(card.token))
                else:
                    path.write_text(qr_svg(card.token), encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"cannot write the cards: {error}") from None
    pages = -(-len(cards) // 10)
    click.echo(f"{out}: {len(cards)} card(s) on {pages} A4 page(s)")


@badges.command("unknown")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.pass_context
def badges_unknown(ctx: click.Context, days: int) -> None:
    """Badges tapped at a kiosk that belong to nobody yet (enrol with 'badges assign')."""
    from datetime import timedelta

    from server.domain.credentials import unknown_badges

    with writing(ctx) as (runtime, session):
        found = unknown_badges(session, runtime.now() - timedelta(days=days))
        if not found:
            click.echo(f"no unknown badge tapped in the last {days} days", err=True)
        for item in found:
            click.echo(
                f"{item.kind}\t{item.value}\t{item.taps} tap(s)\t"
                f"last {item.last_at.isoformat(timespec='seconds')} at {item.kiosk}"
            )


# -- kiosks -----------------------------------------------------------------------------


@click.group()
def kiosks() -> None:
    """Readers at the door and their API tokens."""


@kiosks.command("add")
@click.argument("name")
@click.option("--site", "site_slug", required=True, help="The site's slug.")
@click.option(
    "--mode", type=click.Choice(["toggle", "in", "out"]), default="toggle", show_default=True
)
@click.pass_context
def kiosks_add(ctx: click.Context, name: str, site_slug: str, mode: str) -> None:
    """Add a kiosk and print its token (shown once: put it in the kiosk's config)."""
    from server.domain.kiosks import add_kiosk
    from server.domain.sites import find_site
    from server.store.models import Kiosk, KioskMode

    with writing(ctx) as (runtime, session):
        site = find_site(session, site_slug)
        if site is None:
            raise click.ClickException(f"no site {site_slug!r} (see 'presence sites list')")
        if session.scalar(select(func.count()).where(Kiosk.name == name)):
            raise click.ClickException(f"a kiosk named {name!r} already exists")
        kiosk, token = add_kiosk(session, name, site, KioskMode(mode), runtime.now())
        click.echo(f"kiosk {kiosk.name} at {site.slug} ({kiosk.mode.value})", err=True)
        click.echo("token (shown once, keep it in the kiosk's config):", err=True)
        click.echo(token)


@kiosks.command("rotate-token")
@click.argument("name")
@click.pass_context
def kiosks_rotate(ctx: click.Context, name: str) -> None:
    """Give a kiosk a new token; the old one stops working at once."""
    from server.domain.kiosks import rotate_token
    from server.store.models import Kiosk

    with writing(ctx) as (runtime, session):
        kiosk = session.scalar(select(Kiosk).where(Kiosk.name == name))
        if kiosk is None:
            raise click.ClickException(f"no kiosk {name!r} (see 'presence kiosks list')")
        click.echo(rotate_token(kiosk, runtime.now()))


@kiosks.command("list")
@click.pass_context
def kiosks_list(ctx: click.Context) -> None:
    """List kiosks: up or down (silent for 5 minutes), last seen, taps waiting on them."""
    from server.domain.kiosks import health
    from server.store.models import Kiosk

    with writing(ctx) as (runtime, session):
        now = runtime.now()
        for kiosk in session.scalars(select(Kiosk).order_by(Kiosk.name)):
            seen = (
                kiosk.last_seen_at.isoformat(timespec="seconds") if kiosk.last_seen_at else "never"
            )
            click.echo(
                f"{kiosk.name}\t{health(kiosk, now)}\t{kiosk.site.slug}\t{kiosk.mode.value}\t"
                f"last seen {seen}\t"
                f"pending {kiosk.pending_taps if kiosk.pending_taps is not None else '?'}"
            )


# -- staff ------------------------------------------------------------------------------


@click.group()
def staff() -> None:
    """Staff accounts for the office pages."""


@staff.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["admin", "staff"]), default="staff", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def staff_add(ctx: click.Context, email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add a staff account (the password is asked for, never given on the command line)."""
    from server.domain.staff import StaffError, add_staff
    from server.store.models import StaffRole

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with writing(ctx) as (runtime, session):
        try:
            user = add_staff(session, email, name, StaffRole(role), password, runtime.now())
        except StaffError as error:
            raise click.ClickException(refusal_text(error, "en")) from None
        click.echo(f"staff {user.email} ({user.role.value})")


# -- demo -------------------------------------------------------------------------------


@click.command()
@click.option("--seed", type=int, default=2026, show_default=True)
@click.pass_context
def demo(ctx: click.Context, seed: int) -> None:
    """Fill the database with a believable Cantine: members, a week of visits, people in."""
    from server.cli.demo import DemoError, build_demo

    with writing(ctx) as (runtime, session):
        try:
            summary = build_demo(session, runtime.now(), runtime.rules, seed=seed)
        except DemoError as error:
            raise click.ClickException(str(error)) from None
        for line in summary:
            click.echo(line)


# -- backup -----------------------------------------------------------------------------


@click.command()
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to put the backup in (default: backups/ in the data folder).",
)
@click.pass_context
def backup(ctx: click.Context, into: Path | None) -> None:
    """Back up the SQLite database (online: the server may keep running) and the keys
    the server generated; print the backup's folder."""
    from server.store.backup import BackupError
    from server.store.backup import backup as make_backup

    settings = _settings(ctx)
    try:
        folder = make_backup(settings, into or settings.data_path / "backups", datetime.now(UTC))
    except (BackupError, OSError) as error:
        fail(str(error))
    click.echo(folder)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def restore(ctx: click.Context, folder: Path) -> None:
    """Put a backup back (stop the server first). The database it replaces is kept
    beside it, the schema is brought up to date, and the people erased since the backup
    was taken are erased again."""
    from server.domain.members import erase_again
    from server.domain.photos import delete_photo
    from server.store.backup import SECRETS, BackupError
    from server.store.backup import restore as put_back

    settings = _settings(ctx)
    try:
        restored = put_back(settings, folder, datetime.now(UTC), lambda: badge_lookup_key(settings))
    except (BackupError, OSError) as error:
        fail(str(error))
    if restored.aside is not None:
        click.echo(f"the database it replaced is kept as {restored.aside}")
    with writing(ctx) as (_runtime, session):
        photos = erase_again(session, restored.erasures)
    for photo in photos:  # committed: their photo files, copied back from the backup, go
        delete_photo(settings.data_path, photo)
    click.echo(f"erased again: {len(photos)} person(s) erased since this backup was taken")
    for name in SECRETS:
        saved, kept = folder / name, settings.data_path / name
        if saved.exists() and kept.exists() and saved.read_text() != kept.read_text():
            click.echo(f"note: {kept} differs from the backup's; kept as it is", err=True)
    click.echo(f"restored from {folder}")
