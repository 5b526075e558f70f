"""Connecting to Redis: the one place a client is made from a URL."""

from __future__ import annotations

import redis
import redis.asyncio


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


def connect_async(url: str) -> redis.asyncio.Redis:
    """For the API's event streams: XREAD blocks, and an async client holds no thread meanwhile."""
    return redis.asyncio.Redis.from_url(url)
