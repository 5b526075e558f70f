"""The story event stream (`{p}:stream:events`) as server-sent events read it.

Workers append `{type, story_id, seq}` (a summary's event also `version` and `changes`, what that
version changed since the one before: core.summary_diff) with MAXLEN ~ events_retention on every summary write
(core/storage/stories.py). Reading uses the asyncio Redis client: an open event stream then costs one
idle connection and no thread, where a sync generator would hold one of the 40 threads that every
`def` route handler shares for as long as the browser tab stays open.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import redis.asyncio

from core.errors import InvalidInput
from core.keys import Keys

_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")
SignalHandler = Callable[[int, FrameType | None], Any]


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    data: dict[str, object]

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.type}\ndata: {json.dumps(self.data)}\n\n"


def stream_id(raw: str, field: str = "Last-Event-ID") -> tuple[int, int]:
    """`1700000000000-3` (or a bare `0`) → a comparable pair; anything else is the client's error."""
    if not _ID.match(raw.strip()):
        raise InvalidInput("not an event id this server sent (like 1700000000000-0)", field=field)
    ms, _, n = raw.strip().partition("-")
    return int(ms), int(n or 0)


def format_id(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


class EventLog:
    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self.r = client
        self.key = keys.events_stream

    async def newest(self) -> tuple[int, int]:
        rows = await self.r.xrevrange(self.key, count=1)
        return stream_id(rows[0][0].decode()) if rows else (0, 0)

    async def lost_after(self, after: tuple[int, int]) -> bool:
        """Whether events after `after` may have been trimmed away: the client's last event is no
        longer kept and is older than the oldest one that is."""
        if after == (0, 0):
            return False
        own = format_id(after)
        if await self.r.xrange(self.key, own, own, count=1):
            return False
        oldest = await self.r.xrange(self.key, count=1)
        return bool(oldest) and after < stream_id(oldest[0][0].decode())

    async def read(self, after: tuple[int, int], count: int, block_ms: int | None) -> list[Event]:
        reply = await self.r.xread({self.key: format_id(after)}, count=count, block=block_ms)
        if not reply:
            return []
        events = []
        for entry_id, fields in reply[0][1]:
            data: dict[str, object] = {k.decode(): v.decode() for k, v in fields.items()}
            for number in ("seq", "version"):
                if str(data.get(number, "")).isdigit():
                    data[number] = int(str(data[number]))
            if "changes" in data:
                data["changes"] = json.loads(str(data["changes"]))
            events.append(Event(entry_id.decode(), str(data.get("type", "message")), data))
        return events

    async def aclose(self) -> None:
        await self.r.aclose()


def closing_on_signal() -> threading.Event:
    """An event set when the server is asked to stop.

    uvicorn waits for every open response before it shuts the app down (and only then runs the
    lifespan's shutdown), and an event stream never ends on its own, so a stream needs to hear
    SIGINT/SIGTERM itself. Chains the handlers uvicorn installed; uvicorn restores its originals
    (dropping this wrapper) when it exits. Off the main thread (tests) signals cannot be caught
    and the event is only set by the lifespan's shutdown."""
    closing = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return closing
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, _chained(closing, previous))
    return closing


def _chained(closing: threading.Event, previous: SignalHandler) -> SignalHandler:
    def handler(signum: int, frame: FrameType | None) -> None:
        closing.set()
        previous(signum, frame)

    return handler
