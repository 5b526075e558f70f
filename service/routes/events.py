"""GET /events: story events as server-sent events, resumable with Last-Event-ID.

Each event is `id: <stream entry id>`, `event: story.created | story.updated | story.merged`,
`data: {"type", "story_id", "seq"}`; story.created and story.updated also carry `version`, the
summary version written, and `changes`, what it changed since the version before (facts and
outlets added or dropped, conflicts opened or resolved: the shape of /stories/{id}/changes).
A client that reconnects with `Last-Event-ID` (browsers do it by themselves) gets every event
after that id that is still kept (STORYFOLD_EVENTS_RETENTION, approximately); when some may have
been dropped it first gets a `stream.reset` event and should re-read the feed with
`?updated_after=` the `seq` of the last event it handled. Idle streams get a comment line every
STORYFOLD_EVENTS_HEARTBEAT_S.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from core.errors import InvalidInput
from core.storage.events import EventLog, format_id, stream_id
from service.auth import ReadAccess
from service.deps import SettingsDep

router = APIRouter(tags=["events"], dependencies=[ReadAccess])

# An id this server sent (`1700000000000-3`, or `0`); empty is no id. ASCII digits (the schema's
# regex and the validator's must read them alike), at most 19 (Redis ids are two 64-bit numbers).
EVENT_ID = r"^(?:[0-9]{1,19}(?:-[0-9]{1,19})?)?$"
# In the schema; checked in the handler, whose 422 names the header or parameter as sent.
EVENT_ID_SCHEMA: dict[str, Any] = {"json_schema_extra": {"pattern": EVENT_ID}}
BATCH = 100  # events per XREAD
RETRY_MS = 3000  # how long a browser waits before it reconnects


def _event_log(request: Request) -> EventLog:
    log: EventLog = request.app.state.events
    return log


def _closing(request: Request) -> threading.Event:
    closing: threading.Event = request.app.state.closing
    return closing


EventLogDep = Annotated[EventLog, Depends(_event_log)]
ClosingDep = Annotated[threading.Event, Depends(_closing)]


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream"}},
)
async def events(
    log: EventLogDep,
    closing: ClosingDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", **EVENT_ID_SCHEMA)] = None,
    after: Annotated[
        str | None,
        Query(description="Start after this event id (`0`: all kept events)", **EVENT_ID_SCHEMA),
    ] = None,
    once: Annotated[bool, Query(description="Close after the events already stored")] = False,
    limit: Annotated[int | None, Query(ge=1, description="Close after this many events")] = None,
) -> StreamingResponse:
    """Story events as they happen (`text/event-stream`). Without an id: from now on."""
    # The header wins: a browser sends it when it reconnects a stream first opened with ?after=.
    raw = last_event_id or after
    field = "Last-Event-ID" if last_event_id else "after"
    if raw and not re.fullmatch(EVENT_ID, raw):
        raise InvalidInput("not an event id this server sent (like 1700000000000-0)", field=field)
    # No id: "from now" means from this request, settled before the headers go out, so a client
    # that saw the stream open misses nothing that happened after.
    if raw:
        start = stream_id(raw, field)
    else:
        start = await log.newest()
    stream = _stream(
        log, start, once, limit, closing, settings.events_block_ms, settings.events_heartbeat_s
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _stream(
    log: EventLog,
    after: tuple[int, int],
    once: bool,
    limit: int | None,
    closing: threading.Event,
    block_ms: int,
    heartbeat_s: float,
) -> AsyncIterator[str]:
    # Reads always name a concrete id (never "$"), so nothing falls between two reads. The start
    # goes out as an id-only record: a browser takes it as its last event id, so a stream that
    # drops before its first event reconnects from here, not from "now" again.
    yield f"retry: {RETRY_MS}\n\nid: {format_id(after)}\n\n"
    if await log.lost_after(after):
        data = {
            "type": "stream.reset",
            "detail": "events after your Last-Event-ID are no longer kept; re-read "
            "/stories?updated_after=<seq of the last event you handled>",
        }
        yield f"event: stream.reset\ndata: {json.dumps(data)}\n\n"
    until = await log.newest() if once else None
    sent, quiet_since = 0, time.monotonic()
    # Short blocks: a stop request (closing) is noticed within block_ms. A client that goes away
    # cancels this generator at its current await.
    while not closing.is_set() and (until is None or after < until):
        want = BATCH if limit is None else min(BATCH, limit - sent)
        batch = await log.read(after, want, None if until is not None else block_ms)
        for event in batch:
            if until is not None and stream_id(event.id) > until:
                return
            yield event.sse()
            after, sent = stream_id(event.id), sent + 1
        if (limit is not None and sent >= limit) or (until is not None and not batch):
            return
        if batch:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= heartbeat_s:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
