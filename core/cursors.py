"""Opaque cursors: base64url JSON a client passes back unchanged. A feed cursor holds the position
after the last story returned (a seq, or a (size, id) pair), the `latest_seq` its traversal began
at, and the fingerprint of the query it belongs to, so it cannot be replayed with other filters."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from core.errors import InvalidInput

Key = int | tuple[int, str]  # a position: seq (sort=updated) or (size, id) (sort=size)


def _pack(payload: object) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unpack(cursor: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


# What a forged cursor can raise on the way in: bad base64 or JSON, a wrong shape, a number too
# big for an int (1e999 is JSON's infinity), nesting too deep for the parser.
_NOT_OURS = (ValueError, TypeError, KeyError, binascii.Error, OverflowError, RecursionError)


def encode_cursor(fingerprint: str, latest_seq: int, key: Key) -> str:
    return _pack({"f": fingerprint, "t": latest_seq, "k": key})


def decode_cursor(cursor: str, fingerprint: str, by_size: bool) -> tuple[int, Key]:
    """(latest_seq, position) of a feed cursor issued for the query with this fingerprint."""
    try:
        raw = _unpack(cursor)
        issued_for, latest_seq, key = raw["f"], int(raw["t"]), raw["k"]
        key = (int(key[0]), str(key[1])) if by_size else int(key)
    except _NOT_OURS as exc:
        raise InvalidInput("not a cursor this server issued", field="cursor") from exc
    if issued_for != fingerprint:
        raise InvalidInput(
            "this cursor belongs to a query with other filters or another sort; repeat the "
            "query's parameters with its cursor",
            field="cursor",
        )
    return latest_seq, key


def encode_index_cursor(index: int) -> str:
    """A position in an append-only list (a story's versions)."""
    return _pack({"i": index})


def decode_index_cursor(cursor: str) -> int:
    try:
        index = int(_unpack(cursor)["i"])
    except _NOT_OURS as exc:
        raise InvalidInput("not a cursor this server issued", field="cursor") from exc
    if index < 1:  # issued only while there is something below it
        raise InvalidInput("not a cursor this server issued", field="cursor")
    return index
