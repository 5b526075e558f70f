"""Outbound HTTP for feeds, their pages and webhooks: a bounded GET and POST behind the SSRF guard
(core/netguard.py, whose names are re-exported here).

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
Over the cap a body is refused (TooLarge), or cut where its start is all that is needed (`cut`:
article pages, webhook answers). A request that cannot even be built is a FetchError too.
httpx does the HTTP; the resolver is a parameter, so tests check the guard without a socket.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from core.netguard import (
    Address,
    Blocked,
    FetchError,
    Policy,
    Resolver,
    Target,
    guard,
    is_public,
    system_resolver,
)

__all__ = [
    "Address",
    "Blocked",
    "FetchError",
    "Fetcher",
    "Limits",
    "Policy",
    "Resolver",
    "Response",
    "Target",
    "TimedOut",
    "TooLarge",
    "TooManyRedirects",
    "guard",
    "is_public",
    "system_resolver",
]

USER_AGENT = "storyfold/0.1 (self-hosted news folder; feed poller; +https://github.com/storyfold)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
POST_ANSWER_BYTES = 64_000  # of a webhook receiver's answer, read (its status is what counts)


class TimedOut(FetchError):
    kind = "timeout"


class TooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "redirects"


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
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        cut: bool = False,
    ) -> Response:
        """GET, following guarded redirects. A body over the cap raises TooLarge, or with `cut`
        is cut there (an article page: its text is near the top, a feed cut short is no feed)."""
        current = url
        for _ in range(self.limits.max_redirects + 1):
            response = self._send("GET", current, headers or {}, None, max_bytes, cut)
            location = response.headers.get("location")
            if response.status not in REDIRECTS or not location:
                return response
            try:
                current = urljoin(current, location)
            except ValueError as exc:  # "http://[::1" as a Location
                raise FetchError(f"{url}: unusable redirect {location!r}: {exc}") from None
        raise TooManyRedirects(f"more than {self.limits.max_redirects} redirects from {url}")

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """One POST, redirects not followed (a webhook answers where it is asked). Only the
        answer's status matters, so a long answer (a receiver's HTML page) is cut at
        POST_ANSWER_BYTES, not refused: the delivery arrived."""
        return self._send("POST", url, headers, body, POST_ANSWER_BYTES, cut=True)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        max_bytes: int | None,
        cut: bool = False,
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
                if length and length.isdigit() and int(length) > cap and not cut:
                    raise TooLarge(
                        f"{url}: {length} bytes, over the {cap}-byte limit", reply.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in reply.iter_bytes():
                    size += len(chunk)
                    if size > cap and cut:
                        chunks.append(chunk[: len(chunk) - (size - cap)])
                        break
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
        except (httpx.InvalidURL, ValueError) as exc:
            # The request could not be built: a URL httpx refuses (a control character), a header
            # value that is not ASCII (UnicodeEncodeError, a ValueError). A failed fetch like any
            # other, reported on its source or webhook, never an error that stops the loop.
            raise FetchError(f"{url}: cannot send ({type(exc).__name__}: {exc})") from None
        return Response(
            status=reply.status_code,
            url=url,
            headers={k.lower(): v for k, v in reply.headers.items()},
            body=b"".join(chunks),
        )
