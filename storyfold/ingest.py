"""Read article files (.txt, .json, .jsonl, or folders of them) and post them to a storyfold API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SUFFIXES = (".txt", ".json", ".jsonl")


@dataclass
class IngestReport:
    accepted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    @property
    def ids(self) -> list[str]:
        return self.accepted + self.existing


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.suffix in SUFFIXES:
            yield path
        else:
            raise ValueError(f"{path}: not a .txt, .json or .jsonl file or a folder")


def read_articles(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, article) pairs. A .txt file is one article whose source is the file name."""
    if path.suffix == ".txt":
        yield (
            str(path),
            {"source": path.stem, "text": path.read_text(encoding="utf-8", errors="replace")},
        )
    elif path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            yield f"{path}[{i}]", item
    else:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    yield f"{path}:{n}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{path}:{n}", {"__invalid__": str(exc)}


def post_all(
    client: httpx.Client,
    items: list[tuple[str, Any]],
    batch: int = 100,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    report = IngestReport()
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        good = []
        for where, item in chunk:
            if isinstance(item, dict) and "__invalid__" in item:
                report.rejected.append((where, f"invalid JSON: {item['__invalid__']}"))
            else:
                good.append((where, item))
        if good:
            _post_chunk(client, good, report)
        if progress:
            progress(len(chunk))
    return report


def _post_chunk(client: httpx.Client, chunk: list[tuple[str, Any]], report: IngestReport) -> None:
    resp = client.post("/articles", json=[item for _, item in chunk])
    if resp.status_code == 202:
        for result in resp.json()["articles"]:
            (report.existing if result["existing"] else report.accepted).append(result["id"])
        return
    if resp.status_code in (413, 422) and len(chunk) > 1:
        # One bad article rejects the whole batch: post one by one to say which.
        for where, item in chunk:
            _post_chunk(client, [(where, item)], report)
        return
    if resp.status_code in (400, 401, 413, 415, 422):
        report.rejected.append((chunk[0][0], resp.json().get("detail", resp.text)))
        return
    resp.raise_for_status()


def wait_processed(
    client: httpx.Client,
    ids: list[str],
    timeout_s: float,
    tick: Callable[[int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll until every article is processed or failed; returns the last state of each."""
    state: dict[str, dict[str, Any]] = {}
    pending = list(ids)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for aid in pending:
            body = client.get(f"/articles/{aid}").json()
            state[aid] = body
            if body.get("status") in ("processed", "failed"):
                if tick:
                    tick(1)
            else:
                still.append(aid)
        pending = still
        if pending:
            time.sleep(0.25)
    return state
