"""ASGI middleware that refuses oversized or non-JSON write bodies before they are read whole."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import PROBLEM_JSON, problem_body


def _problem(status: int, title: str, slug: str, detail: str, field: str) -> tuple[bytes, int]:
    return json.dumps(problem_body(status, title, slug, detail, field)).encode(), status


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def _reply(self, send: Send, payload: tuple[bytes, int]) -> None:
        body, status = payload
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _too_large(self) -> tuple[bytes, int]:
        return _problem(
            413,
            "Payload too large",
            "payload-too-large",
            f"The request body is larger than the limit of {self.max_body_bytes} bytes "
            "(STORYFOLD_MAX_BODY_BYTES); split a batch into smaller posts.",
            "body",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            await self._reply(send, _not_json(f"not {ctype!r}"))
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._reply(send, self._too_large())
            return
        # No (or a lying) Content-Length: count while reading and stop at the limit.
        received = 0
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                await self._reply(send, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not ctype and body.strip():  # else the route would say "not a dictionary": misleading
            await self._reply(send, _not_json("the request has no Content-Type"))
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _not_json(why: str) -> tuple[bytes, int]:
    return _problem(
        415,
        "Unsupported media type",
        "unsupported-media-type",
        f"Send the body as application/json: {why}.",
        "content-type",
    )
