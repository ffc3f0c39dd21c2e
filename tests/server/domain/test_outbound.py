"""Outbound calls: which addresses are refused, and what a call to loopback servers (allowed
on purpose) does with redirects, answers and names. No request leaves loopback: addresses
are judged by the function that decides, names by a stub resolver."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from server.domain import outbound
from server.domain.outbound import AddressRefused, check, networks, post, refused

#: Each class of address a webhook may not reach, as someone would write it in a URL.
REFUSED = [
    "http://127.0.0.1/",
    "http://[::1]:22/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.10/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://127.1:6379/",
    "https://intranet.example/",  # resolves to 127.0.0.1 (stub)
]
PUBLIC = "93.184.215.14"


def stub(table: dict[str, list[str]]) -> outbound.Resolver:
    def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return table[host]

    return resolve


NAMES = stub({"intranet.example": ["127.0.0.1"], "hooks.example.org": [PUBLIC]})


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused) as refusal:
        check(url, [], NAMES)
    assert refusal.value.code == "refused_address"


def test_public_addresses_and_names_pass_and_keep_the_name_for_tls() -> None:
    target = check("https://hooks.example.org/in?x=1", [], NAMES)
    assert (str(target.ip), target.host, target.port, target.path) == (
        PUBLIC,
        "hooks.example.org",
        443,
        "/in?x=1",
    )
    assert target.host_header == "hooks.example.org"
    assert str(check("http://[2606:4700::1111]:8080/", [], NAMES).ip) == "2606:4700::1111"


def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    mixed = stub({"mixed.example": [PUBLIC, "10.0.0.5"]})
    with pytest.raises(AddressRefused):
        check("http://mixed.example/", [], mixed)


def test_an_allowed_network_lets_a_lan_receiver_through_and_nothing_else() -> None:
    lan = networks(["192.168.1.20/32"])
    assert str(check("http://192.168.1.20:8065/hooks/x", lan, NAMES).ip) == "192.168.1.20"
    for url in ("http://192.168.1.21/", "http://127.0.0.1/"):
        with pytest.raises(AddressRefused):
            check(url, lan, NAMES)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example.org/", "invalid_address"),
        ("file:///etc/passwd", "invalid_address"),
        ("gopher://hooks.example.org/", "invalid_address"),
        ("javascript:alert(1)", "invalid_address"),
        ("http://hooks.example.org/a b", "invalid_address"),
        ("http:///nohost", "invalid_address"),
        ("http://" + "a" * 500 + ".org/", "invalid_address"),
        ("http://nowhere.example/", "unresolvable"),
    ],
)
def test_what_is_not_a_callable_address_says_why(url: str, code: str) -> None:
    with pytest.raises(AddressRefused) as refusal:
        check(url, [], NAMES)
    assert refusal.value.code == code


@pytest.mark.parametrize(
    "address",
    ["100.64.0.1", "240.0.0.1", "255.255.255.255", "::", "ff02::1", "2002:7f00:1::1"],
)
def test_shared_reserved_and_tunnelled_addresses_are_refused_too(address: str) -> None:
    assert refused(ipaddress.ip_address(address))


class Server:
    """A loopback HTTP server answering every POST with `status`, `headers` and `body`."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                calls.append((self.path, dict(self.headers)))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = _answer  # noqa: N815

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


LOOPBACK = networks(["127.0.0.0/8"])


def test_a_redirect_is_not_followed_and_the_answer_is_not_kept(servers: list[Server]) -> None:
    inside = Server(200, {}, b"secret inside")
    outside = Server(302, {"Location": f"http://127.0.0.1:{inside.port}/secret"}, b"moved")
    servers += [inside, outside]
    reply = post(
        f"http://127.0.0.1:{outside.port}/hook",
        b"{}",
        {"Content-Type": "application/json"},
        allowed=LOOPBACK,
        timeout=5,
    )
    assert (reply.ok, reply.status, reply.error) == (False, 302, "http_302")
    assert [path for path, _headers in outside.calls] == ["/hook"]
    assert inside.calls == []  # the redirect target was never fetched


def test_a_failed_call_keeps_a_code_never_the_answer_text(servers: list[Server]) -> None:
    failing = Server(500, {}, b"root:x:0:0:root:/root:/bin/bash " * 500)
    servers.append(failing)
    reply = post(f"http://127.0.0.1:{failing.port}/", b"{}", {}, allowed=LOOPBACK, timeout=5)
    assert (reply.status, reply.error) == (500, "http_500")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    reply = post(f"http://127.0.0.1:{port}/", b"{}", {}, allowed=LOOPBACK, timeout=5)
    assert (reply.status, reply.error) == (None, "connection_failed")
    refused_reply = post(f"http://127.0.0.1:{failing.port}/", b"{}", {}, allowed=[], timeout=5)
    assert (refused_reply.status, refused_reply.error) == (None, "refused_address")
    assert len(failing.calls) == 1  # the refused call never connected


def test_a_silent_receiver_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        reply = post(f"http://127.0.0.1:{port}/", b"{}", {}, allowed=LOOPBACK, timeout=0.3)
    assert (reply.status, reply.error) == (None, "timeout")


def test_the_call_goes_to_the_address_judged_with_the_name_as_host(
    servers: list[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Server(204, {}, b"")
    servers.append(receiver)
    asked: list[str] = []

    def rebinding(host: str, _port: int) -> list[str]:
        asked.append(host)  # loopback the first time, elsewhere after
        return ["127.0.0.1"] if len(asked) == 1 else ["10.9.9.9"]

    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        ipaddress.ip_address(str(host))  # a name resolved again would fail here
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    reply = post(
        f"http://receiver.test:{receiver.port}/hook",
        b"{}",
        {"X-Presence-Event": "check_in"},
        allowed=LOOPBACK,
        timeout=5,
        resolve=rebinding,
    )
    assert reply.ok and reply.status == 204
    assert asked == ["receiver.test"]  # resolved once
    assert set(looked_up) == {"127.0.0.1"}
    [(path, headers)] = receiver.calls
    assert path == "/hook" and headers["Host"] == f"receiver.test:{receiver.port}"
    assert headers["X-Presence-Event"] == "check_in"
