"""Calls to other people's servers (webhooks, members' alert webhooks) that cannot be
aimed inside ours.

Whoever writes a webhook's address chooses where the server sends a request: a member
through their `/me/` link, an admin on the webhooks page. Left alone, that would let them
reach what only the server can (`http://169.254.169.254/` cloud metadata, Redis on
`127.0.0.1:6379`, the LAN). So an address is judged twice, when it is saved and when a
call leaves (a name may resolve elsewhere by then):

- the host is resolved once (numeric forms such as `0x7f000001`, `2130706433` or
  `127.1` read as the address they stand for), and every address it gives must be
  public: no loopback, private, link-local, shared, multicast, reserved or unspecified
  address, IPv4 or IPv6, nor an IPv6 address carrying one of those IPv4 addresses
  (`::ffff:127.0.0.1`, 6to4, Teredo) — unless it lies in `[webhooks] allowed_networks`,
  which names a LAN receiver (a local Mattermost) on purpose;
- the connection goes to the address judged, never to a second resolution of the name
  (DNS rebinding), with the name in the Host header and in TLS (SNI and certificate);
- no redirect is followed, connecting and reading are bounded in time, a few KB of the
  answer are read and thrown away: what is kept is the status and a short code
  (`refused_address`, `timeout`, `http_500`...), never the answer's text, so the call
  tells nothing of what answered it.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import unquote

import certifi
import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationParseError,
    NewConnectionError,
    SSLError,
    TimeoutError,
)

from server.domain.refusals import N_, Refusal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses the name stands for (as text); OSError when it has none.
Resolver = Callable[[str, int], list[str]]

#: What is read of an answer, then thrown away.
BODY_LIMIT = 4096
#: Only what a URL names a host with; inet_aton would read "1.2.3.4 anything" as 1.2.3.4.
_NUMERIC_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
#: NAT64's well-known prefix (RFC 6052): its last 32 bits are an IPv4 address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: Error codes a call may keep (besides "http_<status>"), as stored in `Delivery.last_error`.
INVALID_ADDRESS = "invalid_address"
REFUSED_ADDRESS = "refused_address"
UNRESOLVABLE = "unresolvable"
TIMEOUT = "timeout"
TLS_FAILED = "tls_failed"
CONNECTION_FAILED = "connection_failed"


class AddressRefused(Refusal):
    """A webhook address the server will not call."""

    MESSAGES: ClassVar[dict[str, str]] = {
        INVALID_ADDRESS: N_("Une adresse http:// ou https://, de 500 caractères au plus."),
        REFUSED_ADDRESS: N_(
            "Cette adresse mène à une machine interne (locale, privée ou réservée) : "
            "Présence n'y envoie rien. Un administrateur peut autoriser un réseau local "
            "dans la configuration ([webhooks] allowed_networks)."
        ),
        UNRESOLVABLE: N_("Ce nom de machine est introuvable : vérifiez l'adresse."),
    }


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host`."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


def networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(cidr) for cidr in cidrs]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refused(ip: IPAddress, allowed: Sequence[Network] = ()) -> bool:
    """Whether a call may not go to `ip`: anything but a public address, unless allowed."""
    if any(ip in network for network in allowed):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id or ip.is_site_local:  # fe80::1%eth0: one of this machine's links
            return True
        inner = embedded_ipv4(ip)
        if inner is not None and refused(inner, allowed):
            return True
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names by number, in any form a resolver would read it
    (`[::1]`, `127.0.0.1`, `127.1`, `0x7f000001`, `2130706433`, `017700000001`)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_IPV4.fullmatch(bare.rstrip(".")) and any(c.isdigit() for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class Target:
    """An address judged fit to call: where to connect, and what to tell the server."""

    scheme: str
    host: str  # the name as written (for Host, SNI and the certificate)
    port: int
    path: str
    ip: IPAddress
    auth: str | None = None

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def check(url: str, allowed: Sequence[Network], resolve: Resolver = system_resolver) -> Target:
    """The target `url` names, or AddressRefused (`invalid_address`, `refused_address`,
    `unresolvable`)."""
    if not url or any(char.isspace() or not char.isprintable() for char in url):
        raise AddressRefused(INVALID_ADDRESS)
    try:
        parts = urllib3.util.parse_url(url)
    except LocationParseError:
        raise AddressRefused(INVALID_ADDRESS) from None
    if len(url) > 500 or parts.scheme not in ("http", "https") or not parts.host:
        raise AddressRefused(INVALID_ADDRESS)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.host.rstrip(".") if not parts.host.startswith("[") else parts.host[1:-1]
    literal = literal_address(parts.host)
    if literal is not None:
        found = [literal]
    else:
        try:
            found = [ipaddress.ip_address(address.split("%")[0]) for address in resolve(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise AddressRefused(UNRESOLVABLE) from None
        if not found:
            raise AddressRefused(UNRESOLVABLE)
    # Every address the name gives must be fit: a client may use any of them.
    if any(refused(ip, allowed) for ip in found):
        raise AddressRefused(REFUSED_ADDRESS)
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        path=parts.request_uri,
        ip=found[0],
        auth=unquote(parts.auth) if parts.auth else None,
    )


@dataclass(frozen=True)
class Reply:
    """What is kept of a call: the status, and a short code when it failed."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed: Sequence[Network],
    timeout: float,
    resolve: Resolver = system_resolver,
) -> Reply:
    """POST `body` to `url` if it is fit to call, to the address judged; what came of it."""
    try:
        target = check(url, allowed, resolve)
    except AddressRefused as refusal:
        return Reply(None, refusal.code)
    sent = {**headers, "Host": target.host_header}
    if target.auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(target.auth.encode()).decode()
    limit = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            str(target.ip),
            target.port,
            timeout=limit,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(target.ip), target.port, timeout=limit, retries=False)
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=sent,
                redirect=False,
                retries=False,
                preload_content=False,
            )
            try:
                response.read(BODY_LIMIT, decode_content=False)  # thrown away
            finally:
                response.close()
    except NewConnectionError:  # refused, unreachable (a TimeoutError to urllib3, too)
        return Reply(None, CONNECTION_FAILED)
    except TimeoutError:
        return Reply(None, TIMEOUT)
    except SSLError:
        return Reply(None, TLS_FAILED)
    except (HTTPError, OSError):
        return Reply(None, CONNECTION_FAILED)
    status = response.status
    return Reply(status, "" if 200 <= status < 300 else f"http_{status}")
