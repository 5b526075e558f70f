"""Stopping, on real processes: `storyfold serve`, `api` and `worker` as a user starts them.

- A hard kill (SIGKILL: the OOM killer, a runtime's timeout) of the process that started the
  embedded redis-server takes the server with it within 5 s, and the next start on the same data
  folder finds what was stored (the append-only file).
- SIGTERM at any moment stops the process within 10 s. The long job is honest: tests/slowed.py runs
  the real CLI with one real function of the worker made slower by a time.sleep that checks no
  stop event (the stand-in for a model call or a huge story's summary that nothing can interrupt).
  A job longer than the grace is left as it stands: unacknowledged, pending in its stream, nothing
  of it written; the next worker takes it over and finishes it. A job shorter than the grace is
  finished, acknowledged, and the process exits 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from core.config import Settings
from core.keys import WORKER_GROUP, Keys
from core.storage.embedded import EmbeddedRedis
from harness.procs import RedisServer, free_port, service_env, wait_for
from service.app import create_app

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

KEYS = Keys("sf")
ARTICLES, SUMMARIES = KEYS.articles_stream, KEYS.summaries_stream
STOP_WITHIN_S = 10.0
GONE_WITHIN_S = 5.0
MODEL_LOAD_S = 240.0  # a worker's start on a busy machine: the model, its onnx check


class Proc:
    """`storyfold ARGS`, logging to `work/<name>.log`; with `slowed=(target, seconds)`, through
    tests/slowed.py, which touches `self.inside` when the slowed function is entered."""

    def __init__(
        self,
        work: Path,
        name: str,
        args: list[str],
        env: dict[str, str],
        slowed: tuple[str, float] | None = None,
    ) -> None:
        self.log = work / f"{name}.log"
        self.inside = work / f"{name}.inside"
        cmd = [sys.executable, "-m", "storyfold.cli"]
        if slowed is not None:
            target, seconds = slowed
            slow = [str(REPO / "tests" / "slowed.py"), target, str(seconds), str(self.inside)]
            cmd = [sys.executable, *slow, "--"]
        with self.log.open("ab") as out:
            self.p = subprocess.Popen(
                [*cmd, *args],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def entered(self) -> bool:
        return self.alive() and self.inside.exists()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.p.poll() is not None:
            raise AssertionError(f"exited with {self.p.returncode}:\n{self.text()[-3000:]}")
        return True

    def sigterm(self) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took), killed and failed past a minute."""
        started = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        try:
            status = self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise AssertionError(
                f"still running 60 s after SIGTERM:\n{self.text()[-3000:]}"
            ) from None
        return status, time.monotonic() - started

    def ensure_gone(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def redis_servers_of(data_dir: Path) -> list[int]:
    """Live (not zombie) redis-server processes working in `data_dir`. Redis rewrites its command
    line (its process title), so the config path is gone from it; its working directory is the
    `dir` of its config, the data folder."""
    folder = data_dir.resolve()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            name = (proc / "comm").read_text().strip()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = (proc / "cwd").resolve(strict=True)
        except OSError:
            continue
        if name.startswith("redis-server") and cwd == folder and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


def seconds_until_gone(data_dir: Path, limit_s: float) -> float:
    started = time.monotonic()
    while redis_servers_of(data_dir) and time.monotonic() - started < limit_s:
        time.sleep(0.05)
    assert redis_servers_of(data_dir) == [], f"redis-server of {data_dir} outlived its owner"
    return time.monotonic() - started


def seed_bodies() -> list[dict[str, str]]:
    return [
        {"source": p.stem, "text": p.read_text(encoding="utf-8")}
        for p in sorted((REPO / "seeds").glob("*.txt"))
    ]


def post_in_process(redis_url: str, bodies: list[dict[str, str]]) -> list[str]:
    """POST through the real app, in this process, onto `redis_url`."""
    settings = Settings(redis_url=redis_url, _env_file=None)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/articles", json=bodies)
        assert resp.status_code == 202, resp.text
        return [a["id"] for a in resp.json()["articles"]]


def embedded_env(data_dir: Path, **settings: str | int) -> dict[str, str]:
    env = service_env("unused", **settings, data_dir=str(data_dir))
    del env["STORYFOLD_REDIS_URL"]  # no URL: the process starts and owns the embedded server
    return env


# -- a hard kill leaves no server behind -------------------------------------------------------
@pytest.mark.parametrize("command", ["serve", "api", "worker"])
def test_a_killed_owner_takes_its_embedded_redis_along_and_the_data_survives(
    tmp_path: Path, command: str
) -> None:
    data = tmp_path / "data"
    port = free_port()
    args = [command, "--data-dir", str(data)]
    args += ["--port", str(port)] if command != "worker" else ["--name", "w-killed"]
    owner = Proc(tmp_path, command, args, embedded_env(data))
    try:
        url = EmbeddedRedis(data).url
        client = redis.Redis.from_url(url, socket_timeout=2)
        wait_for("the embedded redis-server", lambda: owner.alive() and client.ping(), 120)
        if command == "worker":
            stored = post_in_process(url, seed_bodies()[:1])[0]  # the worker's own server
        else:
            base = f"http://127.0.0.1:{port}"
            wait_for("the API", lambda: httpx.get(f"{base}/healthz").status_code == 200, 120)
            stored = httpx.post(f"{base}/articles", json=seed_bodies()[0]).json()["id"]
        (server_pid,) = redis_servers_of(data)
        owner.p.send_signal(signal.SIGKILL)
        owner.p.wait(timeout=10)
        took = seconds_until_gone(data, GONE_WITHIN_S)
        print(f"{command}: redis-server {server_pid} gone {took:.2f} s after SIGKILL of its owner")
        assert "Received SIGTERM" in (data / "redis.log").read_text()  # the kernel's, a clean stop

        # The next start on the same folder: a fresh server, loading what was stored.
        again = Proc(tmp_path, "api-again", ["api", "--data-dir", str(data), "--port", str(port)],
                     embedded_env(data))  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for("the API again", lambda: again.alive() and httpx.get(f"{base}/healthz"), 120)
            article = httpx.get(f"{base}/articles/{stored}")
            assert article.status_code == 200 and article.json()["id"] == stored
            status, took = again.sigterm()
            assert status == 0 and took < STOP_WITHIN_S
            seconds_until_gone(data, GONE_WITHIN_S)
        finally:
            again.ensure_gone()
    finally:
        owner.ensure_gone()


def test_the_embedded_redis_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """The parent-death signal follows the forking *thread*: a server asked for from a short-lived
    thread must still serve after that thread has ended."""
    import threading

    server = EmbeddedRedis(tmp_path / "data")
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        time.sleep(0.5)
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()
    assert redis_servers_of(tmp_path / "data") == []


# -- SIGTERM at any moment ----------------------------------------------------------------------
def pending_of(r: redis.Redis, stream: str, consumer: str) -> int:
    try:
        rows = r.xpending_range(stream, WORKER_GROUP, "-", "+", 100, consumername=consumer)
    except redis.ResponseError:  # no group yet
        return 0
    return len(rows)


def assert_all_folded_once(r: redis.Redis, ids: list[str]) -> None:
    statuses = [r.hget(KEYS.article(a), "status") for a in ids]
    assert statuses == [b"processed"] * len(ids), statuses
    (story_id,) = {r.hget(KEYS.article(a), "story_id").decode() for a in ids}
    members = sorted(m.decode() for m in r.zrange(KEYS.story_articles(story_id), 0, -1))
    assert members == sorted(ids)
    assert r.xpending(ARTICLES, WORKER_GROUP)["pending"] == 0
    assert r.xpending(SUMMARIES, WORKER_GROUP)["pending"] == 0
    summary = json.loads(r.get(KEYS.story_summary(story_id)))
    cited = {aid for fact in summary["consensus"] for aid in fact["article_ids"]}
    assert cited <= set(ids) and len(cited) >= 2


MOMENTS = {
    # stage 1, the story decision: extracting and embedding the batch's leads
    "mid-batch": ("workers.lead:LeadStage.prepare", {}),
    # stage 2, building a story's summary from the vectors, before its compare-and-set write
    "mid-summary": ("workers.story_ops:summarize_members", {}),
    # the periodic HDBSCAN repair, due after every article here
    "mid-repair": ("workers.story_ops:recluster", {"repair_every": 1}),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigterm_mid_job_stops_within_10s_and_the_next_worker_finishes_the_job(
    tmp_path: Path, moment: str
) -> None:
    target, settings = MOMENTS[moment]
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        r = server.client()
        ids = post_in_process(server.url, seed_bodies())
        env = service_env(server.url, claim_min_idle_ms=0, **settings)
        slow = Proc(tmp_path, "slow", ["worker", "--name", "w-slow"], env, (target, 600))
        try:
            wait_for(f"the worker {moment}", slow.entered, MODEL_LOAD_S)
            time.sleep(0.5)
            status, took = slow.sigterm()
        finally:
            slow.ensure_gone()
        print(f"{moment}: stopped {took:.2f} s after SIGTERM, status {status}")
        assert took < STOP_WITHIN_S
        assert status == 128 + signal.SIGTERM  # abandoned: the job could not finish in time
        log = slow.text()
        assert "stopping: finishing the batch in hand" in log
        assert "it is left pending in the stream for the next worker" in log

        fields = [r.hgetall(KEYS.article(a)) for a in ids]
        if moment == "mid-batch":  # held, and nothing of it written: no story decided
            assert pending_of(r, ARTICLES, "w-slow") == len(ids)
            assert all(b"story_id" not in f for f in fields)
        if moment == "mid-summary":  # held, and no summary written, no article marked processed
            assert pending_of(r, SUMMARIES, "w-slow") >= 1
            assert r.keys(KEYS.story_summary("*")) == []
            assert all(f[b"status"] != b"processed" for f in fields)
        assert r.zcard(KEYS.workers) == 0  # its heartbeat withdrawn on the way out

        # The next worker (a new name, as after a restart elsewhere) takes it over and finishes.
        nxt = Proc(tmp_path, "next", ["worker", "--burst", "--name", "w-next"], env)
        try:
            assert nxt.p.wait(timeout=MODEL_LOAD_S) == 0, nxt.text()[-3000:]
        finally:
            nxt.ensure_gone()
        assert_all_folded_once(r, ids)
    finally:
        server.stop()


def test_sigterm_with_a_job_shorter_than_the_grace_finishes_it_and_exits_0(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        r = server.client()
        ids = post_in_process(server.url, seed_bodies())
        env = service_env(server.url)
        slowed = ("workers.story_ops:summarize_members", 2.0)
        slow = Proc(tmp_path, "slow", ["worker", "--name", "w-1"], env, slowed)
        try:
            wait_for("the worker mid-summary", slow.entered, MODEL_LOAD_S)
            status, took = slow.sigterm()
        finally:
            slow.ensure_gone()
        print(f"short job: stopped {took:.2f} s after SIGTERM, status {status}")
        assert status == 0 and took < STOP_WITHIN_S
        assert "left pending" not in slow.text()
        assert_all_folded_once(r, ids)  # it finished what it held; nothing is left for anyone
    finally:
        server.stop()


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    """The first signal gives the work in hand its grace; a second one (an impatient Ctrl-C, a
    supervisor that signals twice) ends the process now. Here the worker is still loading the
    model when both come."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        r = server.client()
        proc = Proc(tmp_path, "w", ["worker", "--name", "w-twice"], service_env(server.url))
        try:
            wait_for("the worker's heartbeat", lambda: proc.alive() and r.zcard(KEYS.workers), 120)
            proc.p.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            status, took = proc.sigterm()
        finally:
            proc.ensure_gone()
        print(f"second SIGTERM: stopped {took:.2f} s after it, status {status}")
        assert status == 128 + signal.SIGTERM and took < 3.0
        assert "stopped: a second SIGTERM" in proc.text()
        assert r.zcard(KEYS.workers) == 0  # even so, its heartbeat withdrawn on the way out
    finally:
        server.stop()


def test_serve_stops_mid_summary_within_10s_with_its_redis_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    data, port = tmp_path / "data", free_port()
    env = embedded_env(data, claim_min_idle_ms=0)
    args = ["serve", "--data-dir", str(data), "--port", str(port)]
    serve = Proc(tmp_path, "serve", args, env, ("workers.story_ops:summarize_members", 600))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for("serve", lambda: serve.alive() and httpx.get(f"{base}/healthz"), 120)
        ids = [
            a["id"] for a in httpx.post(f"{base}/articles", json=seed_bodies()).json()["articles"]
        ]
        wait_for("serve mid-summary", serve.entered, MODEL_LOAD_S)
        with httpx.stream("GET", f"{base}/events", timeout=30) as events:  # an open event stream
            assert events.status_code == 200
            status, took = serve.sigterm()
        print(f"serve: stopped {took:.2f} s after SIGTERM mid-summary, status {status}")
        assert took < STOP_WITHIN_S and status == 128 + signal.SIGTERM
        assert redis_servers_of(data) == []  # shut down on the way out, not left to the kernel
    finally:
        serve.ensure_gone()

    nxt = Proc(tmp_path, "next", ["worker", "--burst", "--data-dir", str(data)], env)
    try:
        assert nxt.p.wait(timeout=MODEL_LOAD_S) == 0, nxt.text()[-3000:]
    finally:
        nxt.ensure_gone()
    with EmbeddedRedis(data) as server:
        assert_all_folded_once(redis.Redis.from_url(server.url), ids)
