"""What the kiosk's full-screen browser shows, served by the kiosk itself.

A small HTTP server from the standard library (no web framework on the Pi) serves the
page and pushes every change of the screen to it as Server-Sent Events, so a greeting
reaches the browser within milliseconds of the read. The screen's state is one JSON
object: what to show now, and the kiosk's status (online, taps waiting, token refused,
reader unplugged, spool that cannot be written).

What is shown is shown once. Each greeting and each error gets an id of its own
(`show_id`); the page times it from the moment it first sees that id, on its own
monotonic clock, and never shows that id again once its time is up. A change of status
or of the head count keeps the id, so it can never bring a greeting back. A page that
comes in while something is up (loaded again, reconnected) is told how long it has been
up (`show_age`, on the kiosk's monotonic clock) and shows it for the rest of its time:
the daemon's and the browser's wall clocks are never compared.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Protocol

from presence.errors import error_body

log = logging.getLogger(__name__)

#: How each server answer is shown: screen kind and message key.
OUTCOMES = {
    "checked_in": ("greeting", "checked_in"),
    "checked_out": ("greeting", "checked_out"),
    "duplicate": ("greeting", "duplicate"),
    "unknown_badge": ("error", "unknown_badge"),
    "revoked": ("error", "revoked"),
    "archived": ("error", "archived"),
    "invalid": ("error", "invalid"),
}

STRINGS = {
    "fr": {
        "idle": "Badgez ici",
        "hello": "Bonjour {name}",
        "hello_anonymous": "Bonjour",
        "bye": "Au revoir {name}",
        "checked_in": "Entrée enregistrée",
        "checked_out": "Sortie enregistrée",
        "duplicate": "C'est déjà enregistré",
        "saved": "Badge enregistré",
        "unknown_badge": "Badge inconnu — passez à l'accueil",
        "revoked": "Badge désactivé — passez à l'accueil",
        "archived": "Compte inactif — passez à l'accueil",
        "invalid": "Badge illisible — réessayez",
        "forged": "Ce code n'est pas un badge de la Cantine — passez à l'accueil",
        "unknown_offline": "Badge non reconnu (hors ligne) — enregistré, passez à l'accueil",
        "replaced": "Cette carte a été remplacée — passez à l'accueil",
        "not_today": "Ce pass n'est pas valable aujourd'hui — passez à l'accueil",
        "other_site": "Ce pass est pour un autre lieu — passez à l'accueil",
        "spool_failed": "Passage non enregistré — prévenez l'accueil",
        "spool_full": "Mémoire du kiosque pleine",
        "spool_unwritable": "Le kiosque ne peut plus écrire dans sa mémoire",
        "spool_trouble": "{problem} — prévenez l'accueil",
        "people_here": {"one": "{n} personne ici", "other": "{n} personnes ici"},
        "offline": {"one": "hors ligne, {n} en attente", "other": "hors ligne, {n} en attente"},
        "token_refused": "kiosque refusé par le serveur : {n} badges gardés en attente",
        "reader_gone": "Lecteur de badges débranché — prévenez l'accueil",
        "reader_stuck": "Lecteur de badges bloqué — prévenez l'accueil",
        "guest_button": "Je suis invité·e",
        "guest_arriving": "J'arrive",
        "guest_leaving": "Je pars",
        "guest_name": "Votre prénom",
        "guest_email": "Votre e-mail (facultatif)",
        "guest_host": "Qui vous invite ? Tapez son nom",
        "guest_no_host": "Personne en particulier",
        "guest_submit": "Entrer",
        "guest_cancel": "Annuler",
        "guest_pick": "Touchez votre prénom",
        "guest_none_here": "Aucun·e invité·e n'est enregistré·e ici.",
        "guest_error_name": "Entrez votre prénom.",
        "guest_error_email": "Cet e-mail ne semble pas valide.",
        "guest_error_host": "Choisissez votre hôte dans la liste.",
        "guest_error_other": "Ça n'a pas marché — passez à l'accueil.",
        "walk_in": "Je viens pour « {title} »",
        "keyboard": "Clavier",
        "key_backspace": "Effacer",
        "key_shift": "Majuscule",
        "key_space": "espace",
        "key_next": "Suivant",
        "key_done": "Valider",
    },
    "en": {
        "idle": "Tap your badge here",
        "hello": "Hello {name}",
        "hello_anonymous": "Hello",
        "bye": "Goodbye {name}",
        "checked_in": "Checked in",
        "checked_out": "Checked out",
        "duplicate": "Already recorded",
        "saved": "Badge recorded",
        "unknown_badge": "Unknown badge — please see the front desk",
        "revoked": "Badge disabled — please see the front desk",
        "archived": "Inactive account — please see the front desk",
        "invalid": "Badge unreadable — try again",
        "forged": "This code is not one of our badges — please see the front desk",
        "unknown_offline": "Badge not recognised (offline) — recorded, see the front desk",
        "replaced": "This card was replaced — please see the front desk",
        "not_today": "This pass is not valid today — please see the front desk",
        "other_site": "This pass is for another site — please see the front desk",
        "spool_failed": "Not recorded — please tell the front desk",
        "spool_full": "The kiosk's storage is full",
        "spool_unwritable": "The kiosk can no longer write to its storage",
        "spool_trouble": "{problem} — please tell the front desk",
        "people_here": {"one": "{n} person here", "other": "{n} people here"},
        "offline": {"one": "offline, {n} waiting", "other": "offline, {n} waiting"},
        "token_refused": "kiosk refused by the server: {n} taps kept waiting",
        "reader_gone": "Badge reader unplugged — please tell the front desk",
        "reader_stuck": "Badge reader not responding — please tell the front desk",
        "guest_button": "I'm a guest",
        "guest_arriving": "I'm arriving",
        "guest_leaving": "I'm leaving",
        "guest_name": "Your first name",
        "guest_email": "Your e-mail (optional)",
        "guest_host": "Who invited you? Type their name",
        "guest_no_host": "Nobody in particular",
        "guest_submit": "Check in",
        "guest_cancel": "Cancel",
        "guest_pick": "Touch your name",
        "guest_none_here": "No guest is checked in here.",
        "guest_error_name": "Enter your first name.",
        "guest_error_email": "This e-mail does not look valid.",
        "guest_error_host": "Choose your host from the list.",
        "guest_error_other": "That did not work — please see the front desk.",
        "walk_in": "I'm here for “{title}”",
        "keyboard": "Keyboard",
        "key_backspace": "Delete",
        "key_shift": "Capitals",
        "key_space": "space",
        "key_next": "Next",
        "key_done": "Done",
    },
}


#: Seconds a greeting or an error stays on the screen.
SHOW_SECONDS = 5.0
#: Server answers remembered by tap id, for a tap the uploader sent before it was greeted.
ANSWERS_KEPT = 64


def corrected(show: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """What is shown for a tap, once the server has answered for it."""
    kind, message = OUTCOMES.get(result.get("outcome", ""), ("greeting", "saved"))
    reason = result.get("reason")
    if reason in ("replaced", "not_today", "other_site"):
        message = reason
    elif reason in ("bad_signature", "unknown_key"):
        message = "forged"
    answered = {
        "kind": kind,
        "tap": result.get("id"),
        "name": result.get("name") or show.get("name"),
        "message": message,
        "outcome": result.get("outcome"),
    }
    if "direction" in show:  # a guest leaving whose departure was already recorded
        answered["direction"] = show["direction"]
    return answered


class Screen:
    """The screen's state; every change wakes the pages that follow it.

    Every change, from reading what is there to writing what replaces it, happens under
    one lock. `state` may be read without it: its parts are replaced, never changed in
    place. Time is the injectable `monotonic` clock's: the age of what is shown.
    """

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        show_seconds: float = SHOW_SECONDS,
    ) -> None:
        self._changed = threading.Condition()
        self._monotonic = monotonic
        self.show_seconds = show_seconds
        self.version = 0
        self.state: dict[str, Any] = {
            "show": {"kind": "idle"},
            "show_id": None,  # new for each greeting and each error, which is shown once
            "status": {
                "online": None,
                "pending": 0,
                "token_refused": False,
                "reader": None,  # not known until the daemon opens it
                "reader_fault": None,  # why the reader is not there: "gone", "stuck"
                "spool": None,  # why taps cannot be kept (spool.FULL, UNWRITABLE), if so
            },
            "head_count": None,
        }
        self._shown_at = monotonic()  # when `show_id` went up
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.guests_on_server: list[dict[str, str]] = []  # from the last heartbeat
        self.events_today: list[dict[str, Any]] = []  # likewise: for walk-ins

    def _wake(self) -> None:
        """Publish a change; the caller holds the lock."""
        self.version += 1
        self._changed.notify_all()

    def _show(self, show: dict[str, Any]) -> None:
        """Put up a new greeting or error, under an id of its own; the caller holds the lock."""
        self.state["show"] = show
        self.state["show_id"] = uuid.uuid4().hex  # unique across restarts of the daemon too
        self._shown_at = self._monotonic()
        self._wake()

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        """The version and a copy of the state, with the age in seconds of what is shown."""
        with self._changed:
            state: dict[str, Any] = json.loads(json.dumps(self.state))
            if state["show_id"] is not None:
                state["show_age"] = round(self._monotonic() - self._shown_at, 3)
            else:
                state["show_age"] = None
            return self.version, state

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the version passes `seen`; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.version > seen, timeout)

    # -- what happens -------------------------------------------------------------------

    def greet(self, tap_id: str, name: str | None, leaving: bool = False) -> None:
        """A read was spooled: greet now, from the cached directory if the name is known.

        Should the server have answered for this tap already (the uploader sent it before
        the greeting), the greeting says what the server said.
        """
        show: dict[str, Any] = {"kind": "greeting", "tap": tap_id, "name": name, "message": "saved"}
        if leaving:
            show["direction"] = "out"
        with self._changed:
            answer = self._answers.get(tap_id)
            self._show(show if answer is None else corrected(show, answer))

    def answer(self, result: dict[str, Any], head_count: int | None) -> None:
        """The server's answer for a tap: correct the screen if it still shows that tap.

        The correction is the same showing (same id, same age): it never brings back a
        greeting whose time is up, and an answer for another tap never touches it.
        """
        tap = result.get("id")
        with self._changed:
            if isinstance(tap, str):
                self._answers[tap] = result
                self._answers.move_to_end(tap)
                while len(self._answers) > ANSWERS_KEPT:
                    self._answers.popitem(last=False)
            changed = head_count != self.state["head_count"]
            self.state["head_count"] = head_count
            show = self.state["show"]
            if tap is not None and show.get("tap") == tap:
                answered = corrected(show, result)
                changed = changed or answered != show
                self.state["show"] = answered
            if changed:
                self._wake()

    def guests_here(self, guests: list[dict[str, str]]) -> None:
        listed = [
            {"arrival": str(guest["arrival"]), "name": str(guest["name"])}
            for guest in guests
            if isinstance(guest, dict) and "arrival" in guest and "name" in guest
        ]
        with self._changed:
            self.guests_on_server = listed

    def events_here(self, events: list[dict[str, Any]]) -> None:
        listed = [
            {"id": int(event["id"]), "title": str(event["title"])}
            for event in events
            if isinstance(event, dict) and isinstance(event.get("id"), int) and "title" in event
        ]
        with self._changed:
            self.events_today = listed

    def guest_arrived(self, arrival: str, name: str) -> None:
        with self._changed:
            self.guests_on_server = [
                *(guest for guest in self.guests_on_server if guest["arrival"] != arrival),
                {"arrival": arrival, "name": name},
            ]

    def count(self, head_count: int | None) -> None:
        with self._changed:
            if head_count is not None and head_count != self.state["head_count"]:
                self.state["head_count"] = head_count
                self._wake()

    def failed(self, message: str, *, tap_id: str | None = None) -> None:
        """Show an error instead of a greeting: `message` is a key of STRINGS.

        With `tap_id`, the server's answer for that tap corrects it, as it does a greeting.
        """
        show: dict[str, Any] = {"kind": "error", "message": message}
        if tap_id is not None:
            show["tap"] = tap_id
        with self._changed:
            answer = None if tap_id is None else self._answers.get(tap_id)
            self._show(show if answer is None else corrected(show, answer))

    def status(self, **status: Any) -> None:
        """Change parts of the kiosk's status; `reader=True` also clears `reader_fault`."""
        if status.get("reader") is True:
            status.setdefault("reader_fault", None)
        with self._changed:
            current = self.state["status"]
            if any(current.get(key) != value for key, value in status.items()):
                self.state["status"] = {**current, **status}
                self._wake()


# -- the page server ---------------------------------------------------------------------

MAX_FORM_BYTES = 4096
#: The page runs only what the kiosk serves: no CDN, no inline script, no other site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class GuestDesk(Protocol):
    """What the page's guest forms call (the kiosk daemon)."""

    def hosts(self) -> list[dict[str, Any]]: ...

    def guests_here(self) -> list[dict[str, str]]: ...

    def guest_arrives(self, name: str, email: str | None, host: int | None) -> object | None: ...

    def guest_leaves(self, arrival: str) -> object | None: ...

    def events_today(self) -> list[dict[str, Any]]: ...

    def walk_in_arrives(self, event: int, name: str, email: str | None) -> object | None: ...


def guest_form(form: Any, hosts: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The guest form's values checked: (values, the first field that is wrong)."""
    if not isinstance(form, dict):
        return {}, "form"
    name = form.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        return {}, "name"
    if any(unicodedata.category(char)[0] == "C" for char in name):
        return {}, "name"
    email = form.get("email") or None
    if email is not None and (
        not isinstance(email, str) or len(email) > 254 or not EMAIL.fullmatch(email.strip())
    ):
        return {}, "email"
    host = form.get("host")
    if host is not None and (
        not isinstance(host, int) or isinstance(host, bool) or host not in {h["id"] for h in hosts}
    ):
        return {}, "host"
    return {"name": name.strip(), "email": email and email.strip(), "host": host}, None


def _static(name: str) -> bytes:
    return (resources.files("kiosk") / "static" / name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: ScreenServer
    TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("screen: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0]
        if path == "/events":
            self._events()
            return
        if path == "/state":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self._initial()).encode())
            return
        desk = self.server.desk
        if path == "/hosts" and desk is not None:
            self._json(HTTPStatus.OK, {"hosts": desk.hosts()})
            return
        if path == "/guests" and desk is not None:
            self._json(HTTPStatus.OK, {"guests": desk.guests_here()})
            return
        if path == "/today" and desk is not None:  # ("/events" is the page's event stream)
            self._json(HTTPStatus.OK, {"events": desk.events_today()})
            return
        name = {"/": "kiosk.html", "/kiosk.js": "kiosk.js", "/kiosk.css": "kiosk.css"}.get(path)
        if name is None:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found")
            return
        self._send(HTTPStatus.OK, self.TYPES["." + name.rsplit(".", 1)[1]], _static(name))

    def do_POST(self) -> None:  # noqa: N802
        """The guest forms: a guest arriving (/guest) or leaving (/guest/leaving), someone
        at the door for one of today's events without a ticket (/walk-in)."""
        desk = self.server.desk
        if desk is None or self.path not in ("/guest", "/guest/leaving", "/walk-in"):
            self._refuse(HTTPStatus.NOT_FOUND, "not_found", "No form at this address.")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._refuse(HTTPStatus.BAD_REQUEST, "bad_length", "Content-Length is not a number.")
            return
        if not 0 < length <= MAX_FORM_BYTES:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", "Empty or too large."
            )
            return
        try:
            form = json.loads(self.rfile.read(length))
        except ValueError:
            self._refuse(HTTPStatus.BAD_REQUEST, "malformed_json", "The body is not valid JSON.")
            return
        if self.path in ("/guest", "/walk-in"):
            values, wrong = guest_form(form, desk.hosts())
            event = form.get("event") if isinstance(form, dict) else None
            event_id = event if type(event) is int else None  # neither text nor a bool
            if self.path == "/walk-in" and event_id not in {e["id"] for e in desk.events_today()}:
                wrong = "event"
            if wrong is not None:
                self._refuse(HTTPStatus.BAD_REQUEST, wrong, f"The form's {wrong} is not right.")
                return
            if event_id is not None and self.path == "/walk-in":
                kept = desk.walk_in_arrives(event_id, values["name"], values["email"])
            else:
                kept = desk.guest_arrives(values["name"], values["email"], values["host"])
        else:
            arrival = form.get("arrival") if isinstance(form, dict) else None
            if not isinstance(arrival, str) or not any(
                guest["arrival"] == arrival for guest in desk.guests_here()
            ):
                self._refuse(HTTPStatus.NOT_FOUND, "arrival", "No such guest here.")
                return
            kept = desk.guest_leaves(arrival)
        if kept is None:  # the spool refused it: the screen says so already
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "spool_failed", "The spool refused it.")
            return
        self._json(HTTPStatus.OK, {"ok": True})

    def _refuse(self, status: HTTPStatus, reason: str, message: str) -> None:
        """An error in the one JSON shape; the page acts on its `reason`."""
        self._json(status, error_body(reason, message))

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _initial(self) -> dict[str, Any]:
        _version, state = self.server.screen.snapshot()
        language = self.server.language
        return {
            "state": state,
            "strings": STRINGS[language],
            "lang": language,
            "show_seconds": self.server.screen.show_seconds,
        }

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """Server-Sent Events: the state now, then each change, until the page goes."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        screen = self.server.screen
        seen = -1
        try:
            while not self.server.stopping.is_set():
                if seen >= 0 and not screen.wait(seen, timeout=15):
                    self.wfile.write(b": keep-alive\n\n")  # also finds a page that left
                    self.wfile.flush()
                    continue
                seen, state = screen.snapshot()
                self.wfile.write(b"data: " + json.dumps(state).encode() + b"\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class ScreenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, screen: Screen, host: str, port: int, language: str) -> None:
        self.screen, self.language = screen, language
        self.desk: GuestDesk | None = None  # the guest forms work once the kiosk is set
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    def start(self) -> threading.Thread:
        """Serve the page from a thread of its own (once: starting again changes nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, name="screen", daemon=True)
            self._thread.start()
        return self._thread

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:  # shutdown() would wait forever for a loop never run
            self.shutdown()
        self.server_close()
