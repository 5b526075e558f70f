"""Politeness per host, shared by every worker: one request in flight per host (a lease with a
TTL, so a dead worker's frees itself) and at least an interval between two requests
(`host:{h}:next`, a not-before time), which a 429/503's Retry-After pushes further out."""

from __future__ import annotations

import re
import time

import redis

from core.keys import Keys

# KEYS: host next, host lease; ARGV: owner, now, lease ms. Returns seconds to wait (0: acquired).
_ACQUIRE = """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[2])
if nxt > now then return tostring(nxt - now) end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then return '0' end
return '0.2'
"""
# KEYS: host next; ARGV: not-before (unix), ttl ms. Only ever pushes the time out.
_DEFER = """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > nxt then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
"""


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _host(host: str) -> str:
    return re.sub(r"[^a-z0-9.\-:\[\]]", "_", host.lower())


class Hosts:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.keys = keys
        self._acquire = client.register_script(_ACQUIRE)
        self._defer = client.register_script(_DEFER)
        self._release = client.register_script(_RELEASE)

    def acquire(self, host: str, owner: str, lease_s: float) -> float:
        """0 when this owner now holds the host's one request slot; else seconds to wait."""
        h = _host(host)
        wait = self._acquire(
            keys=[self.keys.host_next(h), self.keys.host_lease(h)],
            args=[owner, f"{time.time():.3f}", int(lease_s * 1000)],
        )
        return float(wait)

    def release(self, host: str, owner: str, interval_s: float) -> None:
        h = _host(host)
        if interval_s > 0:
            self.defer(host, time.time() + interval_s)
        self._release(keys=[self.keys.host_lease(h)], args=[owner])

    def defer(self, host: str, until: float) -> None:
        ttl_ms = max(1000, int((until - time.time()) * 1000) + 1000)
        self._defer(keys=[self.keys.host_next(_host(host))], args=[f"{until:.3f}", ttl_ms])
