"""How a storyfold process stops: within seconds, leaving no work half-written and no server behind.

SIGTERM (docker stop, Kubernetes) or Ctrl-C sets `Stopper.stop`: the worker takes no new work and
finishes the batch in hand, for up to GRACE_S. What it has not finished by then is abandoned as
it stands: unacknowledged, so pending in its stream, where the next worker takes it over (one
with the same consumer name at once, any other after STORYFOLD_CLAIM_MIN_IDLE_MS). A second signal
abandons at once. Abandoning is a crash, the one the pipeline is built for: every write is atomic
(MULTI/EXEC, a script, a compare-and-set on the summary's version) and every step resumes from
what is stored (workers.runner), so nothing is half-written. It is a tidy crash, though: the
heartbeat is withdrawn and the embedded Redis shut down (its AOF flushed) before the process exits.

Budget (Kubernetes' default grace is 30 s, compose gives a worker 60 s; we aim for under 10):
GRACE_S for the batch in hand, beside it HTTP_GRACE_S for open requests, then at most CLEANUP_S.

The signal handler only writes the signal's number to a pipe (async-signal-safe, no locks); a
thread reads it and acts. A handler that printed or set an Event on the main thread it interrupted
could raise a reentrancy error or deadlock on a lock that thread holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn, Protocol, TypeVar

import structlog
from rich.console import Console

log = structlog.get_logger(__name__)
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

GRACE_S = 5.0  # for the batch in hand, from the first signal
HTTP_GRACE_S = 3  # uvicorn's timeout_graceful_shutdown: open requests and event streams
CLEANUP_S = 3.0  # an abandoning process's last words: heartbeat out, Redis shut down


class _Server(Protocol):
    should_exit: bool


class Stopper:
    def __init__(self, doing: str = "the batch in hand", grace_s: float = GRACE_S) -> None:
        self.stop = threading.Event()  # set: take no new work
        self.doing = doing
        self.grace_s = grace_s
        self.signum = signal.SIGTERM
        self._signals = 0
        self._deadline = 0.0
        self._settled = threading.Event()
        self._cleanups: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._abandoning = False

    # -- being told ----------------------------------------------------------------------------
    def install(self) -> Stopper:
        """SIGTERM and SIGINT start the stop; a second one abandons. Main thread only."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # a full pipe drops a signal rather than block a handler

        def handler(signum: int, frame: object) -> None:
            with contextlib.suppress(BlockingIOError):
                os.write(write_fd, bytes([signum]))

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)
        threading.Thread(
            target=self._read_signals, args=(read_fd,), name="signals", daemon=True
        ).start()
        return self

    def _read_signals(self, read_fd: int) -> None:
        while data := os.read(read_fd, 16):
            for signum in data:
                self._signals += 1
                if self._signals == 1:
                    self.signum = signal.Signals(signum)
                    self.begin()
                else:
                    self.abandon(f"a second {signal.Signals(signum).name}")

    def follow(self, server: _Server) -> None:
        """uvicorn takes over SIGTERM/SIGINT while it serves (and hands them back when it has
        stopped): start the stop as soon as it starts its own, so the worker stops beside it."""

        def watch() -> None:
            while not server.should_exit:
                time.sleep(0.05)
            self.begin()

        threading.Thread(target=watch, name="follow-http", daemon=True).start()

    # -- stopping ------------------------------------------------------------------------------
    def begin(self) -> None:
        """Take no new work; abandon what is still in hand after `grace_s`. Idempotent."""
        with self._lock:
            if self.stop.is_set():
                return
            self._deadline = time.monotonic() + self.grace_s
            self.stop.set()
        console.print(
            f"stopping: finishing {self.doing} (at most {self.grace_s:g} s; "
            "what is unfinished then stays pending for the next worker)…"
        )
        threading.Thread(target=self._expire, name="stop-deadline", daemon=True).start()

    def _expire(self) -> None:
        if not self._settled.wait(self.remaining()):
            self.abandon(f"{self.doing} was not finished within {self.grace_s:g} s")

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic()) if self.stop.is_set() else self.grace_s

    def settled(self) -> None:
        """The work has ended in order: no deadline any more; the rest is the orderly cleanup."""
        self._settled.set()

    def on_abandon(self, cleanup: Callable[[], object]) -> None:
        """Run `cleanup` (most recent first) if the process is abandoned."""
        self._cleanups.append(cleanup)

    def abandon(self, why: str) -> None:
        """Exit now, leaving the work in hand pending in its stream. Never returns."""
        with self._lock:
            if self._abandoning:
                return
            self._abandoning = True
        log.warning("process.abandoned", reason=why)
        console.print(f"stopped: {why}; it is left pending in the stream for the next worker")
        cleanup = threading.Thread(target=self._clean_up, name="last-words", daemon=True)
        cleanup.start()
        cleanup.join(CLEANUP_S)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + int(self.signum))

    def exit_now(self, status: int = 0) -> NoReturn:
        """The orderly stop is done (the work acknowledged, the heartbeat out, Redis shut down):
        end the process here. Interpreter exit would first wait for the background threads, the
        model embedding ahead for jobs nobody holds, which took ~9 s here after a worker had
        stopped; that work is redone by whoever takes those jobs."""
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    def _clean_up(self) -> None:
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as exc:  # the last words are best effort: the kernel ends the rest
                log.warning("process.cleanup_failed", error=repr(exc))

    # -- running work under it -----------------------------------------------------------------
    def wait(self, thread: threading.Thread) -> None:
        """Wait for `thread` on the main thread, which stays free to take signals; a stop's
        deadline abandons the process meanwhile."""
        while thread.is_alive():
            thread.join(0.2)

    def call(self, fn: Callable[[], T], name: str) -> T:
        """`fn()` on its own thread, waited for here: the main thread stays free to take signals
        even while the work is inside a long native call (a model batch)."""
        box: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                box.append(fn())
            except BaseException as exc:  # raised again on the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self.wait(thread)
        if failure:
            raise failure[0]
        return box[0]
