"""Domain errors: plain exception classes that any layer may raise.

They know nothing of HTTP frameworks; `service/problems.py` turns each into an RFC 9457
`application/problem+json` response (its `status`, `title` and `slug` say how), in one handler.
"""

from __future__ import annotations

from typing import Any


class StoryfoldError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(StoryfoldError):
    status = 404
    title = "Not found"
    slug = "not-found"


class PayloadTooLarge(StoryfoldError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class Unauthorized(StoryfoldError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class InvalidInput(StoryfoldError):
    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class ServiceUnavailable(StoryfoldError):
    status = 503
    title = "Service unavailable"
    slug = "unavailable"


class ModelMismatch(StoryfoldError):
    """Stored vectors came from another embedding model than the one running."""

    status = 409
    title = "Embedding model mismatch"
    slug = "model-mismatch"


class ArchiveMissing(ServiceUnavailable):
    """A story moved to the archive on disk, and this process cannot find its file: it was not
    given the folder the story was written to (every process needs the same archive folder)."""

    title = "Archive unavailable"
