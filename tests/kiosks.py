"""A Cantine for kiosk tests: a real server process, members with badges, kiosk configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.domain.hours import parse_weekly
from server.domain.kiosks import add_kiosk
from server.domain.members import MemberSchema, add_member, assign_badge
from server.domain.sites import add_site, issue_display_token
from server.runtime import Runtime
from server.settings import load_settings
from server.store import migrate
from server.store.db import make_engine, make_session_factory
from server.store.models import BadgeKind, KioskMode
from tests.servers import ServerProcess, free_port, write_config


@dataclass
class Door:
    """A server with a site open all day, members with NFC badges, one kiosk token and
    the site's board token (`display_token`)."""

    folder: Path
    members: dict[str, str] = field(default_factory=dict)  # given name -> badge UID
    debounce_seconds: int = 60
    hosts: tuple[str, ...] = ()  # members listed at the kiosk as guests' hosts
    extra_config: str = ""
    database: str = ""  # a database URL; a SQLite file in `folder` if left empty
    redis_url: str = ""
    visibility: str = "hidden"  # what boards show of the members

    def __post_init__(self) -> None:
        port = free_port()
        extra = f"[presence]\ndebounce_seconds = {self.debounce_seconds}\n{self.extra_config}"
        self.database = self.database or f"sqlite:///{self.folder / 'server.store.db'}"
        self.config = write_config(
            self.folder, self.database, port=port, redis_url=self.redis_url, extra=extra
        )
        self.server = ServerProcess(self.config, port)
        self.token = self._arrange()

    def _arrange(self) -> str:
        settings = load_settings(self.config)
        engine = make_engine(settings.database_url)
        migrate.upgrade(engine)
        now = datetime.now(UTC)
        try:
            runtime = Runtime(settings, engine, make_session_factory(engine))
            with runtime.transaction() as session:
                site = add_site(
                    session,
                    "La Cantine",
                    slug="cantine",
                    timezone="Europe/Paris",
                    capacity=40,
                    hours=parse_weekly("mon-sun 00:00-23:59"),
                )
                for name, badge in self.members.items():
                    data = MemberSchema().load({"given_name": name, "visibility": self.visibility})
                    member = add_member(session, data, now.date())
                    assign_badge(session, member, BadgeKind.NFC, badge, "", now)
                    if name in self.hosts:
                        member.host_consent_at = now
                _kiosk, token = add_kiosk(
                    session, "porte", site, KioskMode.TOGGLE, now - timedelta(days=1)
                )
                self.display_token = issue_display_token(site)
        finally:
            engine.dispose()
        return token

    def kiosk_config(self, reader: str = "simulated", **options: object) -> tuple[Path, int]:
        """A config.toml for a kiosk of this door; its page port."""
        page_port = free_port()
        lines = [
            "[kiosk]",
            f'server_url = "{self.server.base}"',
            f'token = "{self.token}"',
            f'spool_path = "{self.folder / f"spool-{page_port}.db"}"',
            f'reader = "{reader}"',
            f"feedback_port = {page_port}",
            "heartbeat_seconds = 5",
        ]
        for key, value in options.items():
            rendered = f'"{value}"' if isinstance(value, str) else str(value).lower()
            if isinstance(value, list):
                rendered = "[" + ", ".join(f'"{item}"' for item in value) + "]"
            lines.append(f"{key} = {rendered}")
        path = self.folder / f"kiosk-{page_port}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path, page_port
