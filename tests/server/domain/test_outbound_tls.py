"""The outbound client over HTTPS: connected to the address it judged, it still checks the
certificate against the name written in the webhook's address (SNI and hostname), so
pinning the address gives an attacker no way around TLS. A receiver on loopback with a
certificate made here; loopback is allowed on purpose (`allowed_networks`)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import pytest

from server.domain import outbound
from tests.certificates import self_signed

LOOPBACK = outbound.networks(["127.0.0.0/8"])


class Receiver(ThreadingHTTPServer):
    """An HTTPS webhook receiver on 127.0.0.1 that notes what reached it."""

    daemon_threads = True

    def __init__(self, cert: Path, key: Path) -> None:
        self.calls: list[dict[str, Any]] = []
        self.names: list[str | None] = []  # the SNI each handshake carried
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                receiver.calls.append(
                    {"host": self.headers["Host"], "body": self.rfile.read(length)}
                )
                self.send_response(204)
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _socket, name, _context: self.names.append(name)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    cert, key = self_signed(tmp_path, "hooks.example.org")
    server = Receiver(cert, key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, cert
    finally:
        server.shutdown()
        server.server_close()


def to_loopback(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]


def call(url: str) -> outbound.Reply:
    return outbound.post(
        url, b'{"event": "test"}', {}, allowed=LOOPBACK, timeout=10, resolve=to_loopback
    )


def test_a_certificate_no_authority_vouches_for_is_refused_and_nothing_is_posted(
    receiver: tuple[Receiver, Path],
) -> None:
    server, _cert = receiver
    reply = call(f"https://hooks.example.org:{server.port}/hook")
    assert (reply.status, reply.error) == (None, outbound.TLS_FAILED)
    assert server.calls == []


def test_the_name_written_is_the_one_checked_whatever_address_is_connected(
    receiver: tuple[Receiver, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, cert = receiver
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # trust this one
    reply = call(f"https://hooks.example.org:{server.port}/hook")
    assert reply.ok and reply.status == 204
    assert server.names[-1] == "hooks.example.org"  # SNI: the name, not 127.0.0.1
    assert server.calls == [
        {"host": f"hooks.example.org:{server.port}", "body": b'{"event": "test"}'}
    ]

    # Another name resolving to the same address: the certificate does not name it.
    reply = call(f"https://elsewhere.example.org:{server.port}/hook")
    assert (reply.status, reply.error) == (None, outbound.TLS_FAILED)
    assert len(server.calls) == 1
