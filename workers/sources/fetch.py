"""Outbound HTTP for feeds, their pages and webhooks: the SSRF guard and a polite, bounded GET.

The guard (`guard`) refuses any URL that is not http(s) or whose host resolves to an address that
is not public: loopback, private, link-local, shared, reserved, multicast, unspecified, and IPv6
forms that embed one of those (v4-mapped, NAT64, 6to4). Every address the name resolves to must
pass, and the connection then goes to the address that was checked (the URL's host is sent as
`Host` and as the TLS server name), so a name that resolves differently a second time (DNS
rebinding) cannot slip through. Redirects are followed by hand, each target guarded again.
`Policy.allow_private` (STORYFOLD_FETCH_ALLOW_PRIVATE) lifts the address check; `Policy.allow`
(STORYFOLD_FETCH_ALLOW) names hosts or networks that pass anyway (intranets).

Every response is bounded: connect/read time-outs plus a deadline for the whole body, a size cap
(checked on Content-Length and again on the decoded bytes as they arrive) and a redirect limit.
httpx does the HTTP; the resolver is a parameter, so tests check the guard without a socket.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

USER_AGENT = "storyfold/0.1 (self-hosted news folder; feed poller; +https://github.com/storyfold)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})

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


class TimedOut(FetchError):
    kind = "timeout"


class TooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "redirects"


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


@dataclass
class Response:
    status: int
    url: str  # after redirects
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5


class Fetcher:
    """GET (following guarded redirects) and POST, both bounded by `limits`."""

    def __init__(
        self,
        policy: Policy,
        limits: Limits,
        resolve: Resolver = system_resolver,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.resolve = resolve
        self.user_agent = user_agent
        timeout = httpx.Timeout(limits.timeout_s)
        # No proxies from the environment (trust_env=False): the guard checks where we connect.
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def get(
        self, url: str, headers: Mapping[str, str] | None = None, max_bytes: int | None = None
    ) -> Response:
        current = url
        for _ in range(self.limits.max_redirects + 1):
            response = self._send("GET", current, headers or {}, None, max_bytes)
            location = response.headers.get("location")
            if response.status not in REDIRECTS or not location:
                return response
            current = urljoin(current, location)
        raise TooManyRedirects(f"more than {self.limits.max_redirects} redirects from {url}")

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """One POST, redirects not followed (a webhook answers where it is asked)."""
        return self._send("POST", url, headers, body, 64_000)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        max_bytes: int | None,
    ) -> Response:
        target = guard(url, self.policy, self.resolve)
        cap = max_bytes or self.limits.max_bytes
        sent = {"User-Agent": self.user_agent, **headers, "Host": target.host_header()}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        deadline = time.monotonic() + self.limits.timeout_s * 3
        try:
            request = self.client.build_request(
                method, target.connect_url(), headers=sent, content=body, extensions=extensions
            )
            reply = self.client.send(request, stream=True)
            try:
                length = reply.headers.get("content-length")
                if length and length.isdigit() and int(length) > cap:
                    raise TooLarge(
                        f"{url}: {length} bytes, over the {cap}-byte limit", reply.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in reply.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise TooLarge(f"{url}: body over the {cap}-byte limit", reply.status_code)
                    if time.monotonic() > deadline:
                        raise TimedOut(
                            f"{url}: body still arriving after {self.limits.timeout_s * 3:.0f} s"
                        )
                    chunks.append(chunk)
            finally:
                reply.close()
        except httpx.TimeoutException as exc:
            raise TimedOut(f"{url}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        return Response(
            status=reply.status_code,
            url=url,
            headers={k.lower(): v for k, v in reply.headers.items()},
            body=b"".join(chunks),
        )
