"""The example deployment in deploy/ works as shipped.

nginx accepts deploy/nginx/presence.conf (`nginx -t`); in front of two real `presence
serve` processes configured from deploy/network/ (PostgreSQL, a private Redis) it serves
the pages with their security headers over HTTPS, redirects plain HTTP, stores a kiosk's
tap, carries it to a board connected over a websocket to the other process, and hands the
application the client's real address; in front of one process configured from
deploy/single/ (SQLite) it serves the pages and stores a tap.

The shipped files are used with these substitutions only, each of which fails the test
if its text is no longer in the file, so what is tested is what people copy:

- presence.conf: `listen 80;` and `listen 443 ssl;` become free ports on 127.0.0.1, the
  `listen [::]:...` lines are dropped (this machine may have no IPv6), the Let's Encrypt
  certificate paths become a self-signed certificate made here, and the upstream's two
  `server` lines become the test servers (one line for a single space, as
  docs/deployment.md says). A test-only main file includes it, giving nginx its own pid
  file, logs and temporary folders, and one worker, so that its round robin alternates
  exactly between the two servers; its access log names the server of each request.
- config.toml: `data_dir` becomes a temporary folder, the port a free one (for the
  network, where each instance takes its port from its systemd unit, a `port` line is
  added), and the board's network allow-list, empty in the examples, names 127.0.0.2:
  the "LAN" that one of the test's clients comes from.
- environment.example: each variable it names is set to this test's value.
- deploy/presence (the administrator's `presence`): its folders are moved under the
  test's, and it runs the venv's `presence` as root instead of the `presence` user.
"""

from __future__ import annotations

import http.client
import os
import pwd
import re
import secrets
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from server.settings import ENVIRONMENT, load_settings
from server.web.staff import UPLOAD_LIMIT
from tests.certificates import self_signed
from tests.conftest import ROOT, own_postgres_database
from tests.servers import Board, ServerProcess, arrange_cantine, free_port, presence
from tests.services import PrivateRedis, require_binary

DEPLOY = ROOT / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "presence.conf"
SINGLE_CONFIG = DEPLOY / "single" / "config.toml"
NETWORK_CONFIG = DEPLOY / "network" / "config.toml"
NETWORK_ENVIRONMENT = DEPLOY / "network" / "environment.example"
ADMIN_COMMAND = DEPLOY / "presence"

SERVER_NAME = "presence.example.org"
CERTIFICATES = f"/etc/letsencrypt/live/{SERVER_NAME}"
#: The upstream as shipped: the network's two instances.
SHIPPED_UPSTREAM = "server 127.0.0.1:5001;\n    server 127.0.0.1:5002;"
#: The client address that stands for the space's LAN in the board's allow-list.
LAN_CLIENT = "127.0.0.2"
BADGE = "04A224B2C35A80"


def substitute(text: str, old: str, new: str) -> str:
    """Replace `old`, which must be in the shipped file (else the test is out of date)."""
    assert old in text, f"{old!r} is no longer in the shipped file: update this test"
    return text.replace(old, new)


# --- nginx -----------------------------------------------------------------------------


def render_site(
    http_port: int, https_port: int, cert: Path, key: Path, upstreams: list[int]
) -> str:
    """deploy/nginx/presence.conf with the substitutions of the module's docstring."""
    text = NGINX_SITE.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if "listen [::]:" not in line]
    assert len(kept) == len(text.splitlines()) - 2, "expected two IPv6 listen lines"
    text = "\n".join(kept) + "\n"
    text = substitute(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = substitute(text, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = substitute(text, f"{CERTIFICATES}/fullchain.pem", str(cert))
    text = substitute(text, f"{CERTIFICATES}/privkey.pem", str(key))
    servers = "\n    ".join(f"server 127.0.0.1:{port};" for port in upstreams)
    return substitute(text, SHIPPED_UPSTREAM, servers)


#: The test's own main file around the shipped site file (Debian's would be
#: /etc/nginx/nginx.conf, which includes sites-enabled/ inside `http`).
MAIN_CONF = """\
{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{
    worker_connections 256;
}}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/presence.conf;
}}
"""


class Nginx:
    """nginx in the foreground under `folder`, with the shipped site rendered in it."""

    def __init__(self, folder: Path, upstreams: list[int]) -> None:
        self.binary = require_binary("nginx", "/usr/sbin")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.http_port, self.https_port = free_port(), free_port()
        self.cert, key = self_signed(folder, SERVER_NAME, "127.0.0.1")
        site = render_site(self.http_port, self.https_port, self.cert, key, upstreams)
        (folder / "presence.conf").write_text(site, encoding="utf-8")
        # As root, the workers would become `nobody`, who cannot reach pytest's folders.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        self.conf = folder / "nginx.conf"
        self.conf.write_text(MAIN_CONF.format(user=user, folder=folder), encoding="utf-8")
        self.https = f"https://127.0.0.1:{self.https_port}"
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        # -e: where nginx writes errors before it has read error_log from the file.
        error_log = str(self.folder / "error.log")
        return [self.binary, "-p", str(self.folder), "-c", str(self.conf), "-e", error_log, *args]

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 30) -> Nginx:
        log = (self.folder / "nginx.out").open("ab")
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.http}/", timeout=2, allow_redirects=False)
                return self
            except requests.ConnectionError:
                assert self.process.poll() is None, self.errors()
                assert time.monotonic() < deadline, f"nginx not up in {timeout} s"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # fast shutdown: open websockets do not hold it up
            self.process.wait(timeout=30)
            self.process = None

    def errors(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logged(self) -> list[str]:
        path = self.folder / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def upstream_of_next(self, count_before: int, timeout: float = 10) -> str:
        """The server port that answered the first request logged after `count_before`
        lines (nginx writes a line just after answering: wait for it)."""
        deadline = time.monotonic() + timeout
        while len(lines := self.logged()) <= count_before:
            assert time.monotonic() < deadline, "nginx logged nothing"
            time.sleep(0.05)
        return lines[count_before].rsplit(":", 1)[1]


# --- the servers -----------------------------------------------------------------------


def server_config(
    shipped: Path, folder: Path, port: int, *, add_port: bool, lan: str | None = None
) -> Path:
    """A shipped config.toml with the substitutions of the module's docstring."""
    text = shipped.read_text(encoding="utf-8")
    text = substitute(text, 'data_dir = "/var/lib/presence/data"', f'data_dir = "{folder}/data"')
    if add_port:
        text = substitute(text, "[server]\n", f"[server]\nport = {port}\n")
    else:
        text = substitute(text, "port = 5000\n", f"port = {port}\n")
    if lan is not None:
        text = substitute(text, "allowed_networks = []", f'allowed_networks = ["{lan}/32"]')
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"config-{port}.toml"
    config.write_text(text, encoding="utf-8")
    return config


def example_environment() -> dict[str, str]:
    """The NAME=value lines of deploy/network/environment.example."""
    lines = NETWORK_ENVIRONMENT.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def tap(base: str, kiosk_token: str, tap_id: str, verify: Path) -> dict[str, Any]:
    """Post one tap of Bruno's badge; its answer."""
    body = {"taps": [{"id": tap_id, "badge": BADGE, "read_at": datetime.now(UTC).isoformat()}]}
    response = requests.post(
        f"{base}/api/v1/taps",
        json=body,
        headers={"Authorization": f"Bearer {kiosk_token}"},
        verify=str(verify),
        timeout=15,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["results"][0]
    return result


def boards_connected(server: ServerProcess) -> int:
    """The server's own count of connected boards (its /metrics, read from loopback)."""
    text = requests.get(f"{server.base}/metrics", timeout=5).text
    found = re.search(r"^presence_boards_connected (\S+)$", text, re.MULTILINE)
    assert found, text
    return int(float(found.group(1)))


def stored_outcomes(database_url: str, tap_id: str) -> list[str]:
    """The outcome of each tap stored with this id, read from PostgreSQL itself."""
    conninfo = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as connection:
        rows = connection.execute("SELECT outcome FROM taps WHERE tap_id = %s", [tap_id])
        return [outcome for (outcome,) in rows]


def get_from(address: str, nginx: Nginx, path: str, headers: dict[str, str]) -> int:
    """GET `path` through nginx's HTTPS from the client address `address`; the status."""
    context = ssl.create_default_context(cafile=str(nginx.cert))
    connection = http.client.HTTPSConnection(
        "127.0.0.1", nginx.https_port, source_address=(address, 0), context=context, timeout=15
    )
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A database of this test's own on the test PostgreSQL server, dropped at the end."""
    with own_postgres_database("presence_deploy") as url:
        yield url


@dataclass
class Network:
    """The network layout, running: nginx in front of two servers."""

    nginx: Nginx
    servers: tuple[ServerProcess, ServerProcess]
    kiosk_token: str
    display_token: str
    database_url: str


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> Iterator[Network]:
    """deploy/network: two `presence serve` on PostgreSQL and a private Redis, secrets
    from the environment as environment.example lists them, behind the shipped nginx."""
    require_binary("nginx", "/usr/sbin")
    folder = tmp_path_factory.mktemp("network")
    redis_server = PrivateRedis(require_binary("redis-server"), folder)
    ports = [free_port(), free_port()]
    values = {
        "PRESENCE_DATABASE_URL": postgres_database,
        "PRESENCE_REDIS_URL": redis_server.url,
        "PRESENCE_SECRET_KEY": secrets.token_hex(32),
        "PRESENCE_BADGE_SIGNING_KEY": secrets.token_hex(32),
        "PRESENCE_BADGE_LOOKUP_KEY": secrets.token_hex(32),
        "PRESENCE_MAIL_PASSWORD": "",
    }
    servers: list[ServerProcess] = []
    nginx = Nginx(folder / "nginx", ports)
    with pytest.MonkeyPatch.context() as environment:
        for name in example_environment():
            environment.setenv(name, values[name])
        try:
            redis_server.start()
            for port in ports:
                config = server_config(NETWORK_CONFIG, folder, port, add_port=True, lan=LAN_CLIENT)
                servers.append(ServerProcess(config, port))
            presence(servers[0].config, "db", "upgrade")
            kiosk_token, display_token = arrange_cantine(servers[0].config)
            for server in servers:
                server.start()
            nginx.start()
            yield Network(
                nginx, (servers[0], servers[1]), kiosk_token, display_token, postgres_database
            )
        finally:
            nginx.stop()
            for server in servers:
                server.stop()
            redis_server.close()


# --- the shipped files, without running anything ----------------------------------------


def test_the_example_environment_names_every_variable_the_server_reads() -> None:
    """No secret is forgotten in environment.example, and none is made up."""
    assert set(example_environment()) == set(ENVIRONMENT.values())


def test_nginx_accepts_the_largest_upload_the_application_takes() -> None:
    """A member's photo or a CSV the application takes is not refused by nginx first."""
    found = re.search(r"^\s*client_max_body_size (\d+)m;", NGINX_SITE.read_text(), re.MULTILINE)
    assert found and int(found.group(1)) * 1024 * 1024 == UPLOAD_LIMIT


def test_the_example_configs_read_as_the_docs_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both configs load with the server's own settings, with what docs/deployment.md
    says: SQLite in /var/lib/presence/data for one space; the database and Redis from the
    environment for a network; both on loopback behind one proxy."""
    for name in ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)
    single = load_settings(SINGLE_CONFIG)
    assert single.database_url == "sqlite:////var/lib/presence/data/presence.db"
    assert (single.server.host, single.server.port) == ("127.0.0.1", 5000)
    assert single.server.proxy_hops == 1 and single.server.secure_cookies

    for name, value in example_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRESENCE_BADGE_SIGNING_KEY", secrets.token_hex(32))
    network = load_settings(NETWORK_CONFIG)
    assert network.database_url == "postgresql+psycopg://presence@/presence"
    assert network.server.redis_url == "redis://127.0.0.1:6379/0"
    assert network.server.host == "127.0.0.1" and network.server.proxy_hops == 1


def test_nginx_accepts_the_example_site(tmp_path: Path) -> None:
    """`nginx -t` on the shipped site, rendered as the module's docstring says."""
    nginx = Nginx(tmp_path, [free_port(), free_port()])
    result = nginx.check()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_admin_command_runs_presence_with_the_servers_config_and_secrets(
    tmp_path: Path,
) -> None:
    """deploy/presence, run with cron's bare environment, reads the secrets file and the
    config, and what it creates cannot be read by other users of the machine."""
    if os.geteuid() != 0:
        pytest.skip("deploy/presence switches user with runuser, which needs root")
    etc, home = tmp_path / "etc", tmp_path / "home"
    etc.mkdir()
    home.mkdir()
    script = ADMIN_COMMAND.read_text(encoding="utf-8")
    script = substitute(
        script, "/opt/presence/.venv/bin/presence", f"{Path(sys.executable).parent}/presence"
    )
    script = substitute(script, "/etc/presence", str(etc))
    script = substitute(script, "cd /var/lib/presence", f"cd {home}")
    script = substitute(script, "runuser -u presence ", "runuser -u root ")
    (tmp_path / "presence").write_text(script, encoding="utf-8")
    database = tmp_path / "from-the-environment.db"
    (etc / "environment").write_text(f"PRESENCE_DATABASE_URL=sqlite:///{database}\n")
    server_config(SINGLE_CONFIG, etc, 5000, add_port=False).rename(etc / "config.toml")

    result = subprocess.run(
        ["/bin/sh", str(tmp_path / "presence"), "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert database.stat().st_mode & 0o007 == 0


# --- a network of spaces, running ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_pages_come_through_nginx_over_https_with_their_headers(network: Network) -> None:
    """The staff login page through nginx: 200, the security headers, and HTTPS as the
    application sees it (X-Forwarded-Proto): HSTS and a Secure session cookie."""
    page = requests.get(
        f"{network.nginx.https}/staff/login", verify=str(network.nginx.cert), timeout=15
    )
    assert page.status_code == 200 and "<form" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    # HTTPS as the browser sees it (X-Forwarded-Proto) with secure_cookies = true:
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in page.headers["Set-Cookie"]
    # The same server reached directly, over plain HTTP, says neither.
    direct = requests.get(f"{network.servers[0].base}/staff/login", timeout=15)
    assert "Strict-Transport-Security" not in direct.headers


@pytest.mark.slow
@pytest.mark.postgres
def test_plain_http_is_redirected_to_https(network: Network) -> None:
    """Port 80 answers with a redirect to the same address over HTTPS."""
    answer = requests.get(
        f"{network.nginx.http}/staff/login?next=%2Fstaff%2F",
        headers={"Host": SERVER_NAME},
        allow_redirects=False,
        timeout=15,
    )
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://{SERVER_NAME}/staff/login?next=%2Fstaff%2F"


@pytest.mark.slow
@pytest.mark.postgres
def test_a_tap_through_nginx_reaches_a_board_on_the_other_server(network: Network) -> None:
    """A board on a websocket through nginx to one server; a kiosk's tap through nginx to
    the other: stored in PostgreSQL, and on the board through Redis."""
    nginx, servers = network.nginx, network.servers
    tls = requests.Session()
    tls.verify = str(nginx.cert)  # handed to the websocket's TLS too
    board = Board(nginx.https, "cantine", network.display_token, http_session=tls)
    try:
        state = board.next("state")
        assert state["head_count"] == 0
        holding = [boards_connected(server) for server in servers]
        assert sorted(holding) == [0, 1], holding
        board_port = str(servers[holding.index(1)].port)

        # nginx alternates: once a request went to the board's server, the next goes to
        # the other one.
        for _ in range(3):
            before = len(nginx.logged())
            requests.get(f"{nginx.https}/healthz", verify=str(nginx.cert), timeout=15)
            if nginx.upstream_of_next(before) == board_port:
                break
        else:
            pytest.fail(f"nginx sent no request to the board's server: {nginx.logged()}")
        before = len(nginx.logged())
        tap_id = str(uuid.uuid4())
        answer = tap(nginx.https, network.kiosk_token, tap_id, nginx.cert)
        assert answer["outcome"] == "checked_in" and answer["name"] == "Bruno"
        assert nginx.upstream_of_next(before) != board_port

        change = board.next("change")
        assert change["put"]["name"] == "Bruno"
        assert change["seq"] == state["seq"] + 1 and change["head_count"] == 1
    finally:
        board.close()

    assert stored_outcomes(network.database_url, tap_id) == ["checked_in"]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_application_sees_the_address_nginx_saw(network: Network) -> None:
    """The board's network allow-list names 127.0.0.2: through nginx, with proxy_hops = 1,
    a client from there opens a board without its link, one from 127.0.0.1 does not,
    even when it claims to be 127.0.0.2 in its own X-Forwarded-For."""
    nginx = network.nginx
    assert get_from(LAN_CLIENT, nginx, "/board/cantine", {}) == 200
    assert get_from("127.0.0.1", nginx, "/board/cantine", {}) == 403
    forged = {"X-Forwarded-For": LAN_CLIENT}
    assert get_from("127.0.0.1", nginx, "/board/cantine", forged) == 403


# --- one space, running ---------------------------------------------------------------------


@pytest.mark.slow
def test_one_space_on_sqlite_behind_nginx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/single with nginx's upstream cut to its one server, as the docs say; no
    environment file: the keys are generated into the data folder."""
    require_binary("nginx", "/usr/sbin")
    for name in ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    config = server_config(SINGLE_CONFIG, tmp_path, port, add_port=False)
    nginx = Nginx(tmp_path / "nginx", [port])
    server = ServerProcess(config, port)
    presence(config, "db", "upgrade")
    kiosk_token, _display = arrange_cantine(config)
    try:
        server.start()
        nginx.start()
        page = requests.get(f"{nginx.https}/staff/login", verify=str(nginx.cert), timeout=15)
        assert page.status_code == 200 and "Strict-Transport-Security" in page.headers
        answer = tap(nginx.https, kiosk_token, str(uuid.uuid4()), nginx.cert)
        assert answer["outcome"] == "checked_in"
        assert (tmp_path / "data" / "presence.db").exists()
        assert (tmp_path / "data" / "badge_signing_key").exists()
    finally:
        nginx.stop()
        server.stop()
