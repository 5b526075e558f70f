"""The repair lease: one repairing worker at a time, and a repair cut short is neither lost nor
left locked (issue: SIGTERM or SIGKILL mid-repair).

A worker killed while repairing cannot run its `finally`: the lease must free itself within its
lifetime (renewed while the repair runs), and the articles that repair was about to look at must
still count as due, so the next worker repairs them at once instead of after another
`STORYFOLD_REPAIR_EVERY` placements.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from core.keys import Keys
from core.storage.repair_store import LEASE_S, RepairStore
from core.storage.stories import Stories

KEYS = Keys()


def _repairs(r: redis.Redis) -> RepairStore:
    return RepairStore(r, KEYS, Stories(r, KEYS))


def test_a_finished_repair_counts_off_only_what_it_saw(r: redis.Redis) -> None:
    repairs = _repairs(r)
    repairs.count_placed(50)
    with repairs.lease() as held:
        assert held
        repairs.count_placed(7)  # placed by another worker while this one repairs
    assert repairs.due() == 7


def test_a_repair_that_fails_stays_due_and_frees_the_lease(r: redis.Redis) -> None:
    repairs = _repairs(r)
    repairs.count_placed(50)
    with pytest.raises(RuntimeError), repairs.lease() as held:
        assert held
        raise RuntimeError("recluster failed")
    assert repairs.due() == 50
    with repairs.lease() as held_again:
        assert held_again


def test_one_repairer_at_a_time_and_a_long_repair_keeps_its_lease(r: redis.Redis) -> None:
    first, second = _repairs(r), _repairs(r)
    with first.lease(timeout_s=0.6) as held:
        assert held
        time.sleep(1.5)  # well past the lock's own lifetime: the renewer keeps it
        with second.lease(timeout_s=0.6) as other:
            assert not other
    with second.lease(timeout_s=0.6) as other:
        assert other


def test_a_worker_killed_mid_repair_leaves_it_due_and_unlocked_soon(
    r: redis.Redis, redis_url: str
) -> None:
    repairs = _repairs(r)
    repairs.count_placed(40)
    child = textwrap.dedent(
        f"""
        import sys, time
        from core.keys import Keys
        from core.storage.connection import connect
        from core.storage.repair_store import RepairStore
        from core.storage.stories import Stories
        client = connect({redis_url!r}, {os.environ.get("STORYFOLD_TEST_REDIS_CLUSTER", "") not in ("", "0", "false")})
        keys = Keys()
        with RepairStore(client, keys, Stories(client, keys)).lease() as held:
            print("held" if held else "busy", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert repairs.due() == 40  # nothing counted off: the next worker repairs at once
    ttl_ms = r.pttl(KEYS.repair_lock)
    assert 0 < ttl_ms <= LEASE_S * 1000, ttl_ms  # not the 600 s it used to hold
    with repairs.lease() as held:
        assert not held  # still the dead worker's, until its lifetime runs out
    r.pexpire(KEYS.repair_lock, 1)  # that lifetime, passed
    time.sleep(0.05)
    with repairs.lease() as held:
        assert held
    assert repairs.due() == 0
