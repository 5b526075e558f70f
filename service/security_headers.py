"""What the browser must not do with our responses, said in headers on every one of them.

- Content-Security-Policy: scripts, styles, images and connections (the event stream) only from
  this origin; no inline script or style (an article's markup that slipped through escaping could
  not run), no plugins, no <base> rewriting, forms only to this origin, and no framing by anyone
  (frame-ancestors 'none': clickjacking), X-Frame-Options: DENY for browsers older than that.
- X-Content-Type-Options: nosniff: a JSON body or a /static file is never taken for script/HTML.
- Referrer-Policy: same-origin: following an article's link out does not tell its publisher which
  story page (and filters, in the query) the reader came from.

FastAPI's own API documentation (/docs, /redoc) loads Swagger UI / ReDoc from a CDN and starts it
with an inline script, which the strict policy would block; those two pages get every header but
a policy that only forbids framing. A response that sets a header itself keeps its own value.

A pure ASGI middleware (not BaseHTTPMiddleware): event streams pass through unbuffered.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_CSP = "frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")  # and /docs/oauth2-redirect

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def policy_for(path: str) -> str:
    return DOCS_CSP if path.startswith(DOCS_PATHS) else STRICT_CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
