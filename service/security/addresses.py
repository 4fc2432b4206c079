"""Where outbound webhooks may go (SSRF): public unicast addresses only, unless an
operator allows a network explicitly (`ONEONONE_OUTBOUND__ALLOW_NETWORKS`).

Refused: loopback, private (RFC 1918, unique-local…), link-local (cloud metadata at
169.254.169.254), multicast, reserved, unspecified and any other address not global
(shared CGNAT space, documentation ranges), in IPv4 and IPv6 alike; an IPv6 address
carrying an IPv4 one (mapped `::ffff:a.b.c.d`, 6to4, Teredo) is judged by that one."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_KINDS = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("private", "is_private"),
    ("reserved", "is_reserved"),
)


def networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The addresses to judge: an IPv4-mapped address is its IPv4 one (the socket
    connects there); a 6to4 or Teredo one is itself and the IPv4 one it carries."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return [ip]
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    return [ip] + [inner for inner in (ip.sixtofour, ip.teredo[1] if ip.teredo else None) if inner is not None]


def refusal(ip: IPAddress, allowed: Iterable[Network] = ()) -> str | None:
    """Why `ip` may not be reached ("loopback", "private"…), or None."""
    allowed = list(allowed)
    for address in _embedded(ip):
        if any(address.version == n.version and address in n for n in allowed):
            continue
        for kind, test in _KINDS:
            if getattr(address, test):
                return kind
        if not address.is_global:
            return "not public"
    return None


def literal_ip(host: str) -> IPAddress | None:
    """The address a URL's host names literally (brackets and zone aside), or None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    ip = literal_ip(host)
    return host.lower() == "localhost" if ip is None else ip.is_loopback


def url_problem(url: str, *, allow_http_loopback: bool, allowed: Iterable[Network] = ()) -> str | None:
    """What is wrong with an endpoint URL, or None: https (http only for a loopback
    host when allowed), a host, no credentials, no fragment, and a literal address
    that may be reached (names are resolved and checked at each delivery)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL with a host"
    if parts.scheme == "http" and not (allow_http_loopback and is_loopback_host(host)):
        return "must use https" + (" (http is allowed for loopback hosts only)" if allow_http_loopback else "")
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    if parts.fragment:
        return "must not have a fragment"
    if port == 0:
        return "port 0 cannot be reached"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain spaces or control characters"
    ip = literal_ip(host)
    if ip is not None and (why := refusal(ip, allowed)):
        return f"{ip} is a {why} address"
    return None
