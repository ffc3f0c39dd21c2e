"""Refusals: what a rule says no to, with a stable code and a message for people.

Every refusal of the server is a `Refusal`. Its `code` is stable (stored in logs,
answered by the API as `reason`, tested); its `message` is the French text, marked with
`N_` so that `python -m server.i18n` puts it in the catalogue, and translated only at the
edge (a page, the API, the command line: `server.i18n.refusal_text`) into the reader's
language. The messages a class can say are declared in its `MESSAGES`, by code, so a test
walks every code and checks it has a French and an English text.

    Refusal
    ├── AddressRefused      invalid_address, refused_address,    domain/outbound.py
    │                       unresolvable
    ├── AnnouncementError   empty, long, expiry                  domain/announcements.py
    ├── BillingError        not_over, already_closed, closed,    domain/billing.py
    │                       no_identity, vat_mismatch, buyer_address, bad_siren,
    │                       credit_on_credit_note, no_reason, credit_amount,
    │                       other_entity, payment_on_credit_note, bad_method,
    │                       already_paid, payment_amount, payment_in_future
    │                       (the invoices' codes are raised in domain/invoices.py)
    ├── CorrectionError     no_reason, future, not_found,        domain/corrections.py
    │                       not_removable, already_removed, start_after_end,
    │                       end_before_start, ended_by_next, unchanged, not_applied
    ├── EventError          bad_brought_by, ends_before_start,   domain/meetups.py
    │                       over, full
    ├── GuestError          past_day                             domain/guests.py
    ├── HoursError          bad_time, not_periods, not_a_pair,   domain/hours.py
    │                       unknown_weekday, not_a_range, bad_days, days_backwards
    ├── KioskGone           kiosk_gone                           domain/checkin.py
    ├── LinkError           link_expired, link_invalid           domain/links.py
    ├── MemberError         email_taken, badge_taken             domain/members.py
    ├── PhotoError          photo_too_large, photo_unreadable    domain/photos.py
    ├── SiteError           bad_slug, bad_timezone, bad_capacity, domain/sites.py
    │                       slug_taken, unknown_detail, half_position
    ├── StaffError          short_password, bad_email,           domain/staff.py
    │                       email_taken
    ├── TokenRefused        malformed, unknown_key, bad_signature, domain/credentials.py
    │                       unknown_badge, replaced, revoked (a tap's reason in the log)
    ├── BadPeriod           bad_date, end_before_start, too_long domain/reports.py
    └── BadYear             bad_year, year_out_of_range          web/staff/annual.py

Not refusals of a rule, and so not here: `server.api.errors.ApiError` (an HTTP answer of
the kiosk API, whose `reason` is a code of the same kind), and the errors of the libraries
both sides share (`badges.tokens.TokenError`, `badges.uid.BadUid`), which cannot import
the server.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a deferred message)
    """Mark `message` for the catalogue without translating it now."""
    return message


class Refusal(Exception):
    """A request a rule refuses: `code` for programs, `message` (French) for people."""

    #: code -> French message with %(name)s placeholders, for each code this class uses.
    MESSAGES: ClassVar[dict[str, str]] = {}

    def __init__(self, code: str, **params: Any) -> None:
        if code not in self.MESSAGES:
            raise KeyError(f"{type(self).__name__} has no message for code {code!r}")
        self.code = code
        self.params = params
        super().__init__(self.message % params if params else self.message)

    @property
    def message(self) -> str:
        """The untranslated (French) text, placeholders not yet filled."""
        return self.MESSAGES[self.code]


def every_refusal() -> list[type[Refusal]]:
    """Every Refusal class of the server, for the tests and the catalogue."""
    found: list[type[Refusal]] = []
    waiting: list[type[Refusal]] = [Refusal]
    while waiting:
        cls = waiting.pop()
        found.append(cls)
        waiting.extend(cls.__subclasses__())
    return found
