"""The fault run of benchmarks/faults.py, small enough for CI: 80 short articles stream into a real
Redis, api and two workers (real processes, the real model) while workers are SIGKILLed and
restarted, Redis is stopped cleanly and killed, and the API is stopped and killed. Afterwards
every accepted article is processed and in exactly one story, nothing is stored twice, every story
id ever returned still answers, and every summary is current.

Redis runs with `appendfsync always` here, so its hard kill is held to the same "nothing accepted
is lost" as its clean stop; what `everysec` can lose on a SIGKILL is explained (and counted) in
harness/faults/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.faults import FaultConfig, run_faults

pytestmark = pytest.mark.slow  # real processes killed and restarted: minutes


def test_nothing_accepted_is_lost_through_kills_and_restarts(tmp_path: Path) -> None:
    cfg = FaultConfig(
        articles=80,
        worker_kills=3,
        redis_restarts=2,  # one clean (SIGTERM), one hard (SIGKILL)
        api_restarts=2,  # one SIGTERM, one SIGKILL
        rate=5.0,
        fsync="always",
        seed=11,
        settle_timeout_s=90,
        max_run_s=240,
        workdir=tmp_path,
        progress=False,
    )
    report = run_faults(cfg)
    print("\n" + report.text())
    c = report.counts
    assert report.problems == [], report.text()
    # The faults happened, and the client felt them.
    assert c["worker_kills"] == 3 and c["worker_kills_holding"] >= 1
    assert c["redis_clean"] == 1 and c["redis_hard"] == 1 and c["api_restarts"] == 2
    assert c["post_retries"] > 0
    # Everything the API accepted made it, once, into a current story.
    assert c["accepted"] == c["stored"] == c["processed"] == c["in_one_story"] == 80
    assert c["lost"] == c["in_no_story"] == c["in_several_stories"] == c["copies"] == 0
    assert c["post_5xx"] == c["read_5xx"] == 0
    assert c["stories"] >= 8  # 16 events, five reports each: many stories, not one
    assert c["summaries_current"] == c["stories"] and c["summaries_stale"] == 0
    assert c["stories_seen"] > 0 and c["stories_gone"] == 0
