"""Requests to addresses that clients give (webhook targets): checked, then sent to the checked address.

A client that names a URL for Sajja to call could name one inside Sajja's own network: a service on
127.0.0.1:8002, a database on a private address, the cloud's metadata service on 169.254.169.254.
Whatever that target answered (its status code in a delivery log, how long it took) would tell the
client about it, and whatever Sajja sent would reach it. So, for each request:

- ``TargetPolicy.check`` refuses a target whose scheme is not https (except with ``SAJJA_ENV=dev``),
  then resolves its host and refuses it when *any* address it resolves to is not public (``is_public``:
  loopback, private, shared/CGNAT, link-local with the metadata services, multicast, reserved,
  unspecified, broadcast, and IPv6 forms that carry one of those IPv4 addresses);
- ``post`` connects to the address that was checked (the name is not resolved again, so DNS cannot
  answer one address to the check and another to the connection), sends the name in ``Host`` and,
  for https, as the TLS server name the certificate is verified against, follows no redirect, and
  opens a connection of its own (``Connection: close``): a connection verified for one name is never
  reused for another name at the same address.

An allowlist (hosts by name, or networks) lets development and test receivers through: a host it
names is exempt from both rules; an address inside a network it lists passes the address rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.errors import register_field_messages

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``, as ``getaddrinfo`` answers; raises ``OSError`` when the name does not resolve.
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052), and the
#: local-use NAT64 prefix (RFC 8215), which ``ipaddress`` does not call private.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")

#: The field error codes a refused target gets (``{"field": "body.url", "code": ...}`` at subscribe time).
NOT_HTTPS, NOT_PUBLIC, UNRESOLVABLE = "url_not_https", "url_not_public", "url_unresolvable"

register_field_messages(
    {
        NOT_HTTPS: {"th": "ที่อยู่ต้องขึ้นต้นด้วย https", "en": "The address must use https"},
        NOT_PUBLIC: {
            "th": "ที่อยู่นี้ชี้เข้าเครือข่ายภายใน (เช่น 127.0.0.1, 10.x, 192.168.x, 169.254.x) ต้องเป็นที่อยู่สาธารณะบนอินเทอร์เน็ต",
            "en": "The address points inside a network (loopback, private, link-local, multicast or reserved); "
                  "it must be a public internet address",
        },
        UNRESOLVABLE: {"th": "ไม่พบชื่อโฮสต์นี้ใน DNS", "en": "The host name does not resolve"},
    }
)

_ENGLISH = {NOT_HTTPS: "not https", NOT_PUBLIC: "not a public address", UNRESOLVABLE: "host does not resolve"}


class TargetRefused(Exception):
    """A target the policy refuses; ``code`` is one of ``NOT_HTTPS``, ``NOT_PUBLIC``, ``UNRESOLVABLE``."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(_ENGLISH[code])

    def field_error(self, loc: tuple[str, ...]) -> dict[str, Any]:
        """As a validation error of the field at ``loc``, for ``RequestValidationError``."""
        return {"type": self.code, "loc": loc, "msg": str(self), "input": None}


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet; False for loopback, private (RFC 1918, IPv6 ULA),
    shared (CGNAT 100.64/10), link-local (169.254/16 and fe80::/10, where cloud metadata answers),
    multicast, reserved, unspecified, broadcast, documentation and benchmarking ranges, and for an
    IPv6 address that carries one of those IPv4 addresses (mapped, 6to4, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address in _NAT64_LOCAL:
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_loopback
        or address.is_link_local or address.is_private
    )


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _host_name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class Allowlist:
    """Hosts (by name or address) and networks exempt from the rules, for development and tests."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """``"127.0.0.1, hooks.test, 10.8.0.0/16, ::1"``: comma-separated host names, addresses and
        networks (CIDR). Anything else is a ``ValueError``, so a mistyped setting stops the start."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in text.split(","):
            entry = _host_name(raw)
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            labels = entry.split(".")
            if not all(label and len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum() and label.isascii()
                       for label in labels):
                raise ValueError(f"not a host name, address or network: {raw.strip()!r}")
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def names(self, host: str) -> bool:
        """The host itself is listed: by name, or as an address inside a listed network."""
        address = _address(host)
        return self.admits(address) if address is not None else host in self.hosts

    def admits(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked target: its URL, and the address a request to it goes to."""

    url: httpx.URL
    address: IPAddress

    @property
    def host(self) -> str:
        return self.url.raw_host.decode("ascii")

    @property
    def pinned_url(self) -> httpx.URL:
        return self.url.copy_with(host=str(self.address))


@dataclass(frozen=True)
class TargetPolicy:
    """What ``check`` refuses. ``https_only`` outside development; ``resolve`` is replaceable (tests)."""

    https_only: bool = True
    allowlist: Allowlist = field(default_factory=Allowlist)
    resolve: Resolver = resolve_host
    resolve_timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, env: str, allowed_hosts: str, **kw: Any) -> TargetPolicy:
        return cls(https_only=env != "dev", allowlist=Allowlist.parse(allowed_hosts), **kw)

    async def check(self, url: str | httpx.URL) -> Target:
        """The target, with the address to connect to; ``TargetRefused`` if a rule refuses it."""
        url = httpx.URL(str(url))
        host = _host_name(url.raw_host.decode("ascii"))
        listed = self.allowlist.names(host)
        if url.scheme not in ("http", "https") or not host:
            raise TargetRefused(NOT_HTTPS)
        if url.scheme != "https" and self.https_only and not listed:
            raise TargetRefused(NOT_HTTPS)
        literal = _address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                answers = await asyncio.wait_for(self.resolve(host, url.port or (443 if url.scheme == "https" else 80)),
                                                 self.resolve_timeout_seconds)
                addresses = [ipaddress.ip_address(a) for a in answers]
            except (TimeoutError, OSError, UnicodeError, ValueError):
                raise TargetRefused(UNRESOLVABLE) from None
            if not addresses:
                raise TargetRefused(UNRESOLVABLE)
        if not listed and not all(is_public(a) or self.allowlist.admits(a) for a in addresses):
            raise TargetRefused(NOT_PUBLIC)
        return Target(url=url, address=addresses[0])


async def post(
    http: httpx.AsyncClient, target: Target, *, content: bytes, headers: Mapping[str, str], timeout: float
) -> int:
    """POST to the checked address, and the status code; the answer's body is never read."""
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" and _address(target.host) is None else {}
    sent = {**headers, "Host": target.url.netloc.decode("ascii"), "Connection": "close"}
    async with http.stream("POST", target.pinned_url, content=content, headers=sent, timeout=timeout,
                           follow_redirects=False, extensions=extensions) as response:
        return response.status_code
