"""Typed server settings from `config.toml` and `PRESENCE_*` environment variables."""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from presence.config import Section, config_path, load_sections, read_toml

#: Secrets and deployment-specific values that may come from the environment instead.
ENVIRONMENT = {
    ("server", "secret_key"): "PRESENCE_SECRET_KEY",
    ("server", "badge_signing_key"): "PRESENCE_BADGE_SIGNING_KEY",
    ("server", "badge_lookup_key"): "PRESENCE_BADGE_LOOKUP_KEY",
    ("server", "database_url"): "PRESENCE_DATABASE_URL",
    ("server", "redis_url"): "PRESENCE_REDIS_URL",
    ("mail", "password"): "PRESENCE_MAIL_PASSWORD",
}


#: A host name or address as `[server] trusted_hosts` takes it (a leading dot: subdomains).
HOST_NAME = re.compile(r"\.?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})|[0-9A-Fa-f:]{2,39}")


class ServerSection(Section):
    data_dir: str = "data"
    database_url: str = ""
    secret_key: str = ""
    # Signs QR badge tokens (Ed25519, 64 hex digits). Empty: generated once into
    # data_dir/badge_signing_key. Several servers must share it; losing it voids every
    # printed QR badge, so back it up with the database.
    badge_signing_key: str = Field(default="", pattern=r"^([0-9a-fA-F]{64})?$")
    # Hashes badge values (HMAC-SHA256, 64 hex digits): the database keeps only these
    # hashes. Empty: generated once into data_dir/badge_lookup_key. Several servers must
    # share it; losing it makes every badge unknown (enrol them again), so back it up.
    badge_lookup_key: str = Field(default="", pattern=r"^([0-9a-fA-F]{64})?$")
    redis_url: str = ""
    # The Socket.IO channel on that Redis: installations sharing one Redis server need
    # different channels (pub/sub ignores the database number).
    redis_channel: str = Field(default="presence-board", pattern=r"^[\w.:-]{1,100}$")
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    # Most connections served at once: boards and dashboards (each holds one open),
    # kiosks, pages. A connection costs no thread (gevent), some memory.
    connections: int = Field(default=2000, ge=10, le=100_000)
    threads: int | None = Field(
        default=None,
        deprecated="each board held a thread before gevent; see `connections`",
    )
    # Send the staff session cookie over HTTPS only: set it when browsers reach the
    # server through https:// (directly or through a proxy).
    secure_cookies: bool = False
    # Pages (besides this server's own address) whose scripts may open Socket.IO
    # connections (boards, dashboards), e.g. ["https://presence.example.org"]; empty:
    # the same origin only.
    socket_origins: list[str] = Field(default_factory=list)
    # Logs on standard error: "text" for people, "json" (one object per line) for a log
    # collector; and the least level written.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Reverse proxies in front of the server that set X-Forwarded-For/-Proto/-Host.
    proxy_hops: int = Field(default=0, ge=0, le=5)
    # Where people and screens reach the server, for every link it gives out (e-mails,
    # the calendar feed, printed and copied links); empty: http://HOST:PORT of this server.
    public_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")
    # Other names under which people reach the server (a proxy's public name, the
    # machine's LAN name or address), besides public_url's, HOST's and localhost:
    # a request naming any other host is refused (400). ".example.org" allows subdomains.
    trusted_hosts: list[str] = Field(default_factory=list)

    @field_validator("trusted_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not HOST_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a host name like 'presence.example.org'")
        return value

    def address(self) -> str:
        """`public_url`, else this server's own address, with no trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def host_names(self) -> list[str]:
        """The names a request may give as its Host: public_url's, the listening address
        (with this machine's names when it listens on every interface), localhost, and
        `trusted_hosts`."""
        names = ["localhost", "127.0.0.1", "::1", *self.trusted_hosts]
        if self.public_url:
            names.append(urlsplit(self.public_url).hostname or "")
        if self.host in ("0.0.0.0", "::", ""):
            names.extend(_machine_names())
        else:
            names.append(self.host)
        return list(dict.fromkeys(name.lower() for name in names if name))


def _machine_names() -> list[str]:
    """This machine's host names and the addresses they resolve to (no network request)."""
    names = [socket.gethostname(), socket.getfqdn()]
    names.append(names[0] + ".local")  # mDNS, as a LAN reaches a Raspberry Pi
    try:
        found = socket.getaddrinfo(names[0], None, proto=socket.IPPROTO_TCP)
    except OSError:
        found = []
    return names + [str(info[4][0]) for info in found] + _interface_addresses()


def _interface_addresses() -> list[str]:
    """The addresses of this machine's interfaces (Linux's /proc; nothing elsewhere): a
    kiosk on the LAN reaches a server listening on every interface by its address, which
    the host name often does not resolve to (Debian maps it to 127.0.1.1)."""
    found: list[str] = []
    try:  # IPv4: each local address is followed by a "/32 host LOCAL" line
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    found += [
        above.split()[-1] for above, line in itertools.pairwise(lines) if "/32 host LOCAL" in line
    ]
    try:  # IPv6: one address a line, 32 hex digits first
        rows = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        rows = []
    found += [str(ipaddress.IPv6Address(int(row.split()[0], 16))) for row in rows if row.strip()]
    return found


class PresenceSection(Section):
    debounce_seconds: int = Field(default=60, ge=0, le=3600)
    auto_checkout_grace_minutes: int = Field(default=30, ge=0, le=24 * 60)
    future_tolerance_seconds: int = Field(default=300, ge=0)


class ApiSection(Section):
    max_body_kib: int = Field(default=256, ge=1, le=16 * 1024)
    max_batch: int = Field(default=200, ge=1, le=10_000)
    token_requests_per_minute: int = Field(default=120, ge=1, le=100_000)


def address_in(address: str | None, networks: Sequence[str]) -> bool:
    """Whether a client address lies in one of `networks` (CIDR, already checked)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


class _Networks(Section):
    """A section naming client networks that may reach something without a key."""

    allowed_networks: list[str] = Field(default_factory=list)

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise ValueError(
                    f"{network!r} is not a network like '192.168.1.0/24' (host bits set?)"
                ) from None
        return value

    def allows(self, address: str | None) -> bool:
        """Whether a client address lies in one of the allowed networks."""
        return address_in(address, self.allowed_networks)


class BoardSection(_Networks):
    language: Literal["fr", "en"] = "fr"
    # Client networks that may open a board without its display token (the space's LAN).
    allowed_networks: list[str] = Field(default_factory=list)


class MetricsSection(_Networks):
    # Who may read /metrics (Prometheus): this machine only, unless the monitoring
    # server's network is added here.
    allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])


class CardsSection(Section):
    # The space's name on printed badge cards (empty: the first site's name).
    title: str = ""
    # A PNG or JPEG logo for the cards (empty: none).
    logo: str = ""


class BillingSection(Section):
    # Prices are in cents, VAT included; statements show them with and without VAT.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    vat_percent: float = Field(default=20.0, ge=0, le=100)
    # A day with at most this many hours of presence is a half day; more is a full day.
    half_day_hours: float = Field(default=4.0, gt=0, le=24)
    # Visits shorter than this bill nothing (a quick hello, a parcel dropped off).
    min_visit_minutes: int = Field(default=15, ge=0, le=24 * 60)
    # A visit nobody tapped out of (ended at closing time) adds no hours, but its day
    # is at least a half day ("half"), or a full day ("full").
    auto_checkout_day: Literal["half", "full"] = "half"
    # `payg` plan: the price of a half day and of a full day.
    payg_half_day: int = Field(default=1000, ge=0)
    payg_full_day: int = Field(default=1800, ge=0)
    # `pack` plan: a pack of half-day credits (a full day uses two) and its price;
    # beyond the balance, days are billed at the `payg` prices.
    pack_credits: int = Field(default=10, ge=1)
    pack_price: int = Field(default=9000, ge=0)
    # `monthly` plan: unlimited days for this price a month (a month started or ended
    # on the plan is billed for its days on the plan).
    monthly_price: int = Field(default=15000, ge=0)
    # A guest's day (see server.domain.guests): "free", or billed to their "host" at the `payg`
    # prices (a half day or a full day, by the guest's own presence that day).
    guest_days: Literal["free", "host"] = "free"


def siren_ok(digits: str) -> bool:
    """A SIREN (9 digits) or SIRET (14 digits) whose Luhn key is right (La Poste's
    establishments, SIREN 356000000, use a sum of digits instead)."""
    if not digits.isdigit() or len(digits) not in (9, 14):
        return False
    if len(digits) == 14 and digits.startswith("356000000"):
        return sum(int(d) for d in digits) % 5 == 0
    total = 0
    for n, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


class InvoicingSection(Section):
    # Closing a month also issues an invoice to each member with something to pay, from
    # their statement (see docs/invoices.md). Off: closing stores statements only.
    issue_invoices: bool = False
    # The space's legal identity, printed on every invoice: the legal name, its form
    # (e.g. "Association loi 1901", "SAS au capital de 1 000 €"), the address.
    legal_name: str = Field(default="", max_length=200)
    legal_form: str = Field(default="", max_length=200)
    street: str = Field(default="", max_length=200)
    postcode: str = Field(default="", max_length=16)
    city: str = Field(default="", max_length=100)
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    # SIRET of the establishment (14 digits); its first 9 are the SIREN.
    siret: str = Field(default="", pattern=r"^(\d{14})?$")
    # The intra-community VAT number (e.g. "FR32123456789"), or, for a space under the
    # VAT franchise, vat_exempt = true ("TVA non applicable, art. 293 B du CGI"; then
    # [billing] vat_percent must be 0). Exactly one of the two.
    vat_number: str = Field(default="", pattern=r"^([A-Z]{2}[0-9A-Z]{2,13})?$")
    vat_exempt: bool = False
    # Days from the invoice's date to its due date (at most 60, Code de commerce L441-10).
    payment_days: int = Field(default=30, ge=0, le=60)
    # The late payment penalty rate, as printed (at least three times the legal rate).
    late_penalty: str = Field(
        default="trois fois le taux d'intérêt légal", min_length=1, max_length=200
    )
    # Where transfers go: printed on invoices and given in the Factur-X (empty: none).
    iban: str = Field(default="", pattern=r"^([A-Z]{2}\d{2}[A-Z0-9]{10,30})?$")
    # Number prefixes: invoices F-2026-000001, credit notes (avoirs) A-2026-000001.
    invoice_prefix: str = Field(default="F", pattern=r"^[A-Z]{1,4}$")
    credit_note_prefix: str = Field(default="A", pattern=r"^[A-Z]{1,4}$")

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        if value and not siren_ok(value):
            raise ValueError(f"{value!r} is not a SIRET (14 digits, its check digit wrong)")
        return value

    @model_validator(mode="after")
    def _one_vat_status(self) -> InvoicingSection:
        if self.vat_number and self.vat_exempt:
            raise ValueError("vat_number and vat_exempt: a space has one or the other")
        if self.invoice_prefix == self.credit_note_prefix:
            raise ValueError("invoice_prefix and credit_note_prefix must differ")
        return self

    @property
    def siren(self) -> str:
        return self.siret[:9]

    def missing(self) -> list[str]:
        """The settings an invoice needs that are not set."""
        wanted = ("legal_name", "street", "postcode", "city", "siret")
        missing = [f"[invoicing] {key}" for key in wanted if not getattr(self, key)]
        if not (self.vat_number or self.vat_exempt):
            missing.append("[invoicing] vat_number / vat_exempt")
        return missing


class ReportsSection(Section):
    # A "regular" is a member present on at least this many distinct days of a month.
    regular_days: int = Field(default=8, ge=1, le=31)


class JobsSection(Section):
    # Run the scheduled jobs inside each `presence serve` process (each run is claimed in
    # the database, so several processes still run it once); false: run them in a
    # `presence scheduler` process of their own.
    in_server: bool = True
    # How often visits past their site's closing time are ended (and boards updated).
    sweep_seconds: int = Field(default=60, ge=1, le=3600)
    # Raw badge values of taps older than this are erased (the CNIL's three months for
    # access data); outcomes, visits and statements stay.
    retention_days: int = Field(default=92, ge=1)
    # Guests (not members) whose last day here is older than this are erased: name and
    # e-mail go, their days stay counted (the CNIL's three months after the last visit).
    # The same for the names and e-mails on the tickets of events ended this long ago.
    guest_retention_days: int = Field(default=92, ge=1)
    # When the daily retention job runs, in the first site's time zone ("HH:MM").
    retention_at: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class MailSection(Section):
    # The SMTP server that sends arrival alerts and guests' passes; no host: no e-mail
    # (alerts then go only to webhooks).
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: str = ""
    sender: str = "presence@localhost"


class WebhooksSection(_Networks):
    # A delivery not accepted (2xx) is tried again after 30 s, 1 min, 2 min... (at most
    # an hour apart) and given up after this many attempts (16: about 9 hours).
    max_attempts: int = Field(default=16, ge=1, le=100)
    timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Networks of this machine or the LAN that webhooks may call on purpose (a local
    # Mattermost), e.g. ["192.168.1.20/32"]; any other private address is refused.
    allowed_networks: list[str] = Field(default_factory=list)


class Settings(BaseModel):
    server: ServerSection = ServerSection()
    presence: PresenceSection = PresenceSection()
    api: ApiSection = ApiSection()
    board: BoardSection = BoardSection()
    cards: CardsSection = CardsSection()
    billing: BillingSection = BillingSection()
    invoicing: InvoicingSection = InvoicingSection()
    mail: MailSection = MailSection()
    webhooks: WebhooksSection = WebhooksSection()
    metrics: MetricsSection = MetricsSection()
    jobs: JobsSection = JobsSection()
    reports: ReportsSection = ReportsSection()

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def database_url(self) -> str:
        """The configured URL, else an SQLite file in the data folder."""
        if self.server.database_url:
            return self.server.database_url
        return f"sqlite:///{(self.data_path / 'presence.db').resolve()}"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings; the file is optional unless named explicitly."""
    found = config_path(path)
    explicit = path is not None or "PRESENCE_CONFIG" in os.environ
    data = read_toml(found, required=explicit)
    overrides = {key: os.environ.get(var) for key, var in ENVIRONMENT.items()}
    return load_sections(Settings, found, data, overrides)


def _kept(settings: Settings, name: str, make: Callable[[], str]) -> str:
    """A secret generated once into the data folder (readable by its owner only)."""
    keyfile = settings.data_path / name
    if keyfile.exists():
        return keyfile.read_text().strip()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    value = make()
    keyfile.touch(mode=0o600)
    keyfile.write_text(value)
    return value


def secret_key(settings: Settings) -> str:
    """The configured secret key, else one generated once and kept in the data folder."""
    if settings.server.secret_key:
        return settings.server.secret_key
    return _kept(settings, "secret_key", lambda: secrets.token_urlsafe(48))


def badge_signing_key(settings: Settings) -> bytes:
    """The Ed25519 key that signs QR badges: configured, else generated once."""
    from badges.tokens import new_private_key

    configured = settings.server.badge_signing_key
    if configured:
        return bytes.fromhex(configured)
    return bytes.fromhex(_kept(settings, "badge_signing_key", lambda: new_private_key().hex()))


def badge_lookup_key(settings: Settings) -> bytes:
    """The key badge values are hashed with (see badges.lookup): configured, else
    generated once."""
    configured = settings.server.badge_lookup_key
    if configured:
        return bytes.fromhex(configured)
    return bytes.fromhex(_kept(settings, "badge_lookup_key", lambda: secrets.token_hex(32)))
