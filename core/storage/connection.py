"""Connecting to Redis: the one place a client is made from a URL.

With `cluster`, the URL names any node of a Redis Cluster and the client is redis-py's
RedisCluster: it learns the slot map, follows MOVED/ASK and re-learns the map after a failover.
It offers the commands storyfold uses with the same signatures, so the rest of core.storage takes
either (typed as redis.Redis). What differs is what a cluster refuses: a script or MULTI whose
keys span hash slots (core/keys.py tags keys so none does), and a script inside a pipeline (the
cluster pipeline does not load scripts: storyfold calls scripts on the client only).
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

# A failover takes about cluster-node-timeout plus an election (a few seconds): retry for ~10 s
# before a command reports the store down, so a worker rides out the promotion of a replica.
FAILOVER_RETRIES = 20


def connect(
    url: str,
    cluster: bool = False,
    timeout_s: float | None = None,
    retries: int | None = None,
) -> redis.Redis:
    """`timeout_s`: a command gives up on a socket that stays silent this long (a Redis that
    stopped answering without closing the connection: a network partition, a frozen process);
    None: wait (a worker's XREADGROUP blocks on purpose). `retries`: how often a command is tried
    again after a connection error or a timeout; None: redis-py's own few for one server, and
    for a cluster enough to ride out a failover."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 30,
    }
    if cluster and retries is None:
        retries = FAILOVER_RETRIES
    if retries is not None:
        options["retry"] = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries)
    if not cluster:
        return redis.Redis.from_url(url, **options)
    return cast(redis.Redis, RedisCluster.from_url(url, **options))


def connect_async(
    url: str, cluster: bool = False, timeout_s: float | None = None, retries: int | None = None
) -> redis.asyncio.Redis:
    """For the API's event streams: XREAD blocks, and an async client holds no thread meanwhile.
    `timeout_s` must outlast the longest XREAD BLOCK; `retries` as for `connect` (a cluster's
    own default rides out a failover)."""
    options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if not cluster:
        if retries is not None:
            options["retry"] = AsyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries)
        return redis.asyncio.Redis.from_url(url, **options)
    return cast(redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster.from_url(url, **options))


def is_cluster(client: redis.Redis) -> bool:
    return isinstance(client, RedisCluster)


def cluster_write_problem(client: redis.Redis) -> str | None:
    """Why some hash slot cannot take writes now (None: every one can), answered at once: the
    cluster client retries through a failover (seconds), and a readiness probe must not wait for
    it to end and then say all was well. Each master the client knows is PINGed on its own
    connection (no retries); the slot map is re-learned and asked again once, so a completed
    failover reads ready."""
    cluster = cast(RedisCluster, client)
    for attempt in range(2):
        try:
            state = cluster.cluster_info().get("cluster_state")
            if state != "ok":
                return f"cluster_state is {state}: some hash slots have no master"
            for node in cluster.get_primaries():
                connection = cluster.get_redis_connection(node)
                connection.ping()
            return None
        except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
            if attempt:
                return f"a master does not answer: {type(exc).__name__}: {exc}"
            cluster.nodes_manager.initialize()
    return None
