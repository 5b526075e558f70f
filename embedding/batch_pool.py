"""A pool of threads that run model batches a core each, story decisions' batches first."""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable, Sequence

# Background batches take every thread once no story decision has asked for the model this long.
FOREGROUND_QUIET_S = 0.5


class BatchPool:
    """Threads that run model batches, a core each (onnxruntime releases the GIL while a batch
    runs). Foreground batches (story decisions) go before background ones (a summary's
    sentences), and background ones hold at most `threads - 1` of the threads: the thread that
    asked for a story decision keeps a core for its own Python work (extract, assign) while the
    summary's batches run on the others."""

    def __init__(self, threads: int) -> None:
        self._ready = threading.Condition()
        self._queues: tuple[collections.deque[Callable[[], None]], ...] = (
            collections.deque(),
            collections.deque(),
        )
        self.threads = threads
        self._background_max = max(1, threads - 1)
        self._background_running = 0
        self._foreground_at = -FOREGROUND_QUIET_S
        for n in range(threads):
            threading.Thread(target=self._serve, name=f"embed-{n}", daemon=True).start()

    def run_all(self, tasks: Sequence[Callable[[], None]], priority: int = 0) -> None:
        """Run every task on the pool (priority 0: foreground, 1: background); return when all
        are done, raising the first error."""
        done = threading.Semaphore(0)
        errors: list[BaseException] = []

        def wrapped(task: Callable[[], None]) -> None:
            try:
                task()
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
            finally:
                done.release()

        with self._ready:
            if priority == 0:
                self._foreground_at = time.monotonic()
            self._queues[min(priority, 1)].extend(functools.partial(wrapped, t) for t in tasks)
            self._ready.notify_all()
        for _ in tasks:
            done.acquire()
        if errors:
            raise errors[0]

    def _next(self) -> tuple[Callable[[], None], bool]:
        with self._ready:
            while True:
                foreground, background = self._queues
                if foreground:
                    return foreground.popleft(), False
                width = self._background_max if self._foreground_lately() else self.threads
                if background and self._background_running < width:
                    self._background_running += 1
                    return background.popleft(), True
                self._ready.wait()

    def _foreground_lately(self) -> bool:
        return time.monotonic() - self._foreground_at < FOREGROUND_QUIET_S

    def _serve(self) -> None:
        while True:
            task, in_background = self._next()
            try:
                task()
            finally:
                if in_background:
                    with self._ready:
                        self._background_running -= 1
                        self._ready.notify_all()
