"""API keys: `Authorization: Bearer <key>`, one of STORYFOLD_API_KEYS.

Writes need a key whenever keys are configured (none configured: open, and the server logs
`api.open` at start). Reads are public unless STORYFOLD_READ_KEYS_REQUIRED is true; health checks
are always open, so load balancers need no key.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.config import Settings
from core.errors import Unauthorized
from service.deps import SettingsDep

# A security scheme rather than a bare header, so /docs offers an "Authorize" button. Errors are
# ours (auto_error=False): problem+json with WWW-Authenticate, like every other error.
_bearer = HTTPBearer(auto_error=False, description="One of STORYFOLD_API_KEYS")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def check_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    if not settings.api_keys:
        return
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized(
            "this server needs an API key: send `Authorization: Bearer <key>`",
            field="Authorization",
        )
    key = credentials.credentials.strip().encode()
    # Compare with every key, in constant time, so timing tells nothing about any of them.
    if not any(hmac.compare_digest(key, k.encode()) for k in settings.api_keys):
        raise Unauthorized("this API key is not valid here", field="Authorization")


def _write_access(settings: SettingsDep, credentials: Credentials) -> None:
    check_key(settings, credentials)


def _read_access(settings: SettingsDep, credentials: Credentials) -> None:
    if settings.read_keys_required:
        check_key(settings, credentials)


# For a router's or a decorator's `dependencies=[...]`: they produce no value.
WriteAccess = Depends(_write_access)
ReadAccess = Depends(_read_access)
