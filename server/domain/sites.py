"""Sites: create and find; opening hours are checked before they are stored."""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.hours import check_weekly
from server.domain.kiosks import hash_token
from server.domain.refusals import N_, Refusal
from server.store.models import Site

PUBLIC_FIELDS = frozenset({"url", "logo_url", "contact_email", "address", "lat", "lon"})
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class SiteError(Refusal):
    """A site that cannot be created as asked."""

    MESSAGES = {
        "bad_slug": N_(
            "« %(slug)s » : une adresse de lieu s'écrit en minuscules, chiffres et tirets."
        ),
        "bad_timezone": N_(
            "« %(timezone)s » n'est pas un fuseau horaire (par exemple Europe/Paris)."
        ),
        "bad_capacity": N_("La capacité est un nombre positif de personnes."),
        "slug_taken": N_("Un lieu « %(slug)s » existe déjà."),
        "unknown_detail": N_("Détail de lieu inconnu : « %(detail)s »."),
        "half_position": N_("Donnez la latitude et la longitude, ou aucune des deux."),
    }


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64] or "site"


def add_site(
    session: Session,
    name: str,
    *,
    slug: str | None,
    timezone: str,
    capacity: int | None,
    hours: dict[str, list[list[str]]],
    **public: str | float | None,
) -> Site:
    """Create a site; `public` holds what SpaceAPI shows (url, logo_url, contact_email,
    address, lat, lon)."""
    slug = slug or slugify(name)
    if not _SLUG.match(slug):
        raise SiteError("bad_slug", slug=slug)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError("bad_timezone", timezone=timezone) from None
    if capacity is not None and capacity < 1:
        raise SiteError("bad_capacity")
    if find_site(session, slug) is not None:
        raise SiteError("slug_taken", slug=slug)
    unknown = set(public) - PUBLIC_FIELDS
    if unknown:
        raise SiteError("unknown_detail", detail=sorted(unknown)[0])
    if (public.get("lat") is None) != (public.get("lon") is None):
        raise SiteError("half_position")
    site = Site(
        name=name,
        slug=slug,
        timezone=timezone,
        capacity=capacity,
        opening_hours=check_weekly(hours),
        **{key: value for key, value in public.items() if value is not None},
    )
    session.add(site)
    session.flush()
    return site


def home_zone(session: Session) -> ZoneInfo:
    """The space's time zone (its first site's): where "today" and "this month" are."""
    return ZoneInfo(session.scalar(select(Site.timezone).order_by(Site.id).limit(1)) or "UTC")


def local_today(session: Session, now: datetime) -> date:
    """Today, in the space's time zone."""
    return now.astimezone(home_zone(session)).date()


def find_site(session: Session, slug: str) -> Site | None:
    return session.scalar(select(Site).where(Site.slug == slug))


def issue_display_token(site: Site) -> str:
    """Give the site's boards a new display token; the old link stops working at once.

    Only its hash is kept, like a kiosk's: the link is shown once, when it is issued.
    """
    token = secrets.token_urlsafe(16)
    site.display_token_hash = hash_token(token)
    return token


def may_display(site: Site, token: str | None) -> bool:
    """Whether `token` is the site's current display token."""
    if not token or site.display_token_hash is None:
        return False
    return hmac.compare_digest(site.display_token_hash, hash_token(token))
