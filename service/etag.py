"""ETag and If-None-Match for every GET, as one ASGI middleware.

The tag is a strong validator: a hash of the exact bytes of the 200 body, so two responses share a
tag exactly when they are byte-identical (a story in HTML and in JSON differs; `Vary: Accept` says
so to caches). If-None-Match uses the weak comparison RFC 9110 prescribes for it, so a client that
sends the tag back as `W/"…"` is answered as well. A matching request gets 304 with no body; the
handler still runs, so this saves the transfer, not the work. Responses that set their own ETag
(static files) and event streams pass through untouched.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str, tag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    opaque = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))


class ETagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                streaming = headers.get("content-type", "").startswith("text/event-stream")
                if message["status"] == 200 and "etag" not in headers and not streaming:
                    start = message
                    return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._finish(send, start, b"".join(chunks), if_none_match)

        await self.app(scope, receive, buffered)

    @staticmethod
    async def _finish(send: Send, start: Message, body: bytes, if_none_match: str | None) -> None:
        tag = etag_for(body)
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["ETag"] = tag
        if "cache-control" not in headers:
            # Stored, but revalidated on every use: the 304 path above makes that cheap.
            headers["Cache-Control"] = "no-cache"
        if if_none_match is not None and matches(if_none_match, tag):
            del headers["content-length"]
            del headers["content-type"]
            await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})
