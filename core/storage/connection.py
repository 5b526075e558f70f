"""Connecting to Redis: the one place a client is made from a URL."""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)
