"""Fault run (the machinery is harness/faults/, shared with tests/test_faults.py).

.venv/bin/python -m benchmarks.faults                      # 1,000 articles, default faults
.venv/bin/python -m benchmarks.faults --articles 300 --worker-kills 5 --fsync always
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from harness.faults import FaultConfig, run_faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = FaultConfig()
    parser.add_argument("--articles", type=int, default=d.articles)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--worker-kills", type=int, default=d.worker_kills)
    parser.add_argument(
        "--redis-restarts", type=int, default=d.redis_restarts, help="alternately clean and hard"
    )
    parser.add_argument(
        "--api-restarts", type=int, default=d.api_restarts, help="alternately SIGTERM and SIGKILL"
    )
    parser.add_argument("--rate", type=float, default=d.rate, help="POSTs per second")
    parser.add_argument("--fsync", choices=["everysec", "always"], default=d.fsync)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--max-deliveries", type=int, default=d.max_deliveries, help="STORYFOLD_MAX_DELIVERIES"
    )
    parser.add_argument("--settle-timeout", type=float, default=d.settle_timeout_s)
    parser.add_argument("--max-run", type=float, default=d.max_run_s, help="seconds, hard stop")
    parser.add_argument("--workdir", type=Path, help="keep logs and the AOF here")
    args = parser.parse_args(argv)
    cfg = FaultConfig(
        articles=args.articles,
        workers=args.workers,
        worker_kills=args.worker_kills,
        redis_restarts=args.redis_restarts,
        api_restarts=args.api_restarts,
        rate=args.rate,
        fsync=args.fsync,
        seed=args.seed,
        max_deliveries=args.max_deliveries,
        settle_timeout_s=args.settle_timeout,
        max_run_s=args.max_run,
        workdir=args.workdir,
    )
    report = run_faults(cfg)
    console = Console()
    console.print(report.table())
    for event in report.events:
        console.print(f"  {event.done_at:6.1f}s  {event.kind:<12} {event.detail}", highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", markup=False, highlight=False)
    if report.problems:
        console.print(f"[red]{len(report.problems)} problem(s); logs in {report.workdir}[/]")
        for p in report.problems[:40]:
            console.print(f"  {p}", markup=False, highlight=False)
        return 1
    console.print("[green]every accepted article is in exactly one story; nothing lost[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
