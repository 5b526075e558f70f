"""What a fault run does and what it found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from core.keys import Keys

KEYS = Keys()
# Redis 6.2 with appendfsync everysec postpones an AOF write behind a running fsync for up to two
# seconds (counted in whole seconds) while still replying: what was acknowledged that recently
# before a SIGKILL may be gone.
EVERYSEC_LOSS_WINDOW_S = 3.0


@dataclass
class FaultConfig:
    articles: int = 1000
    workers: int = 2
    worker_kills: int = 8
    redis_restarts: int = 2  # alternately clean (SIGTERM) and hard (SIGKILL), clean first
    api_restarts: int = 2  # alternately SIGTERM and SIGKILL
    rate: float = 15.0  # POSTs per second the producer aims at
    fsync: str = "everysec"
    seed: int = 7
    per_event: int = 5  # reports of one event, by different outlets
    batch_share: float = 0.2  # share of POSTs that carry a small batch (2-4 articles)
    worker_batch: int = 8
    claim_min_idle_ms: int = 5000  # entries a dead worker held are taken over after this
    # STORYFOLD_MAX_DELIVERIES for the workers: an article delivered this often without
    # finishing is given up on (it keeps killing workers). Every fault that interrupts a batch is
    # a delivery for each article in it, so the shipped 20 must outlast faults this dense.
    max_deliveries: int = 20
    settle_timeout_s: float = 600.0  # after the stream, for the queue to drain
    max_run_s: float = 3600.0  # the whole run, hard stop
    workdir: Path | None = None  # logs and the AOF; a temp folder (removed if all is well) if None
    progress: bool = True


@dataclass
class Event:
    kind: str  # worker-kill, redis-clean, redis-hard, api-term, api-kill
    at: float  # fraction of the articles posted when it fires
    done_at: float = 0.0  # time.monotonic() when it happened
    detail: str = ""


@dataclass
class FaultReport:
    rows: list[tuple[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # findings that are not a broken contract
    counts: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, label: str, value: Any, key: str | None = None) -> None:
        self.rows.append((label, value))
        if key is not None:
            self.counts[key] = int(value)

    def table(self) -> Table:
        t = Table(title="storyfold fault run", show_header=True, header_style="bold")
        t.add_column("what")
        t.add_column("count", justify="right")
        for label, value in self.rows:
            t.add_row(label, f"{value:.1f}" if isinstance(value, float) else str(value))
        return t

    def text(self) -> str:
        width = max(len(label) for label, _ in self.rows) if self.rows else 0
        lines = [f"{label:<{width}}  {value}" for label, value in self.rows]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)
