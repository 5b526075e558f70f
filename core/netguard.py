"""The SSRF guard: which URLs storyfold may fetch (feeds, their pages, webhooks). Pure but for the
resolver, which is a parameter, so tests check it without a socket.

`guard` refuses any URL that is not http(s) or whose host resolves to an address that is not
public: loopback, private, link-local, shared, reserved, multicast, unspecified, and IPv6 forms
that embed one of those (v4-mapped, NAT64, 6to4). Every address the name resolves to must pass;
the caller then connects to the address that was checked (`Target.connect_url`), so a name that
resolves differently a second time (DNS rebinding) cannot slip through. `Policy.allow_private`
(STORYFOLD_FETCH_ALLOW_PRIVATE) lifts the address check; `Policy.allow` (STORYFOLD_FETCH_ALLOW)
names hosts or networks that pass anyway (intranets). The API checks a URL when it is posted, the
worker again on every fetch and redirect (workers/sources/fetch.py).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.config import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class FetchError(Exception):
    """A fetch that produced no usable response; `kind` is short and stable (for reports)."""

    kind = "network"

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class Blocked(FetchError):
    kind = "blocked"


@dataclass(frozen=True)
class Policy:
    allow_private: bool = False
    allow: tuple[str, ...] = ()  # host names (exact) or networks ("10.0.0.0/8")

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in {
            a.lower().rstrip(".") for a in self.allow if "/" not in a
        }

    def address_allowed(self, address: Address) -> bool:
        if self.allow_private or is_public(address):
            return True
        for entry in self.allow:
            try:
                if address in ipaddress.ip_network(entry.strip(), strict=False):
                    return True
            except ValueError:
                continue  # a host name, not a network
        return False


def is_public(address: Address) -> bool:
    """True for an address on the public internet; any IPv4 address embedded in an IPv6 one
    (v4-mapped, NAT64, 6to4) must be public too."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address in _SIX_TO_FOUR:
            embedded = ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
    return bool(address.is_global) and not address.is_multicast and not address.is_reserved


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A guarded URL: where to connect (`address`) and what to say (`host`, the URL)."""

    url: str
    scheme: str
    host: str
    port: int
    address: Address

    def connect_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{ip}:{self.port}{path}{query}"

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def guard(url: str, policy: Policy, resolve: Resolver = system_resolver) -> Target:
    """The target to connect to for `url`, or Blocked saying why not. Only the resolver does IO."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise Blocked(f"not a usable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Blocked(f"only http(s) URLs are fetched, not {scheme or 'a relative URL'!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Blocked("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            found = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        if not addresses:
            raise FetchError(f"{host} resolves to no address")
    if not policy.host_allowed(host):
        refused = [a for a in addresses if not policy.address_allowed(a)]
        if refused:
            raise Blocked(
                f"{host} resolves to {refused[0]}, a non-public address: refused "
                "(STORYFOLD_FETCH_ALLOW_PRIVATE=true or STORYFOLD_FETCH_ALLOW opens it)"
            )
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=addresses[0])


def policy_of(settings: Settings) -> Policy:
    return Policy(settings.fetch_allow_private, tuple(settings.fetch_allow))
