"""The archive on disk: one gzip-compressed JSON file per story, under the archive folder.

Why files and not an embedded database: a file per story is written whole to a temporary name
and renamed into place (atomic on every POSIX filesystem, NFS included), so a crash leaves either
the old file or the new one, never half of one, and rewriting a story's file is idempotent; two
processes on two machines need nothing but a shared folder, where SQLite's locking is unsafe on
network filesystems. A story is archived or revived by the one worker holding its story lock,
so no two writers ever race on one file. Readers (the API) only open files.

A file holds what core.storage.cold moved out of Redis, as the raw values Redis held (bytes as
base64), so a revival puts back exactly what was there.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass
class StoryArchive:
    story_id: str
    archived_at: float
    summary: bytes | None = None
    versions: list[bytes] = field(default_factory=list)  # the versions list, rows as stored
    version_days: list[bytes] = field(default_factory=list)
    evidence: bytes | None = None
    # article id -> {"sentences" | "vectors" | "vector": the key's value}
    articles: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        def b64(value: bytes | None) -> str | None:
            return None if value is None else base64.b64encode(value).decode()

        return json.dumps(
            {
                "story_id": self.story_id,
                "archived_at": self.archived_at,
                "summary": b64(self.summary),
                "versions": [b64(v) for v in self.versions],
                "version_days": [b64(v) for v in self.version_days],
                "evidence": b64(self.evidence),
                "articles": {
                    aid: {name: b64(value) for name, value in keys.items()}
                    for aid, keys in self.articles.items()
                },
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> StoryArchive:
        data = json.loads(raw)

        def unb64(value: str | None) -> bytes | None:
            return None if value is None else base64.b64decode(value)

        return cls(
            story_id=data["story_id"],
            archived_at=float(data["archived_at"]),
            summary=unb64(data["summary"]),
            versions=[base64.b64decode(v) for v in data["versions"]],
            version_days=[base64.b64decode(v) for v in data["version_days"]],
            evidence=unb64(data["evidence"]),
            articles={
                aid: {name: base64.b64decode(value) for name, value in keys.items()}
                for aid, keys in data["articles"].items()
            },
        )


class ArchiveFiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, story_id: str) -> Path:
        if not _SAFE_ID.match(story_id):  # ids are ours, but a path is built from it
            raise ValueError(f"not a story id: {story_id!r}")
        return self.folder / story_id[-2:] / f"{story_id}.json.gz"

    def write(self, archive: StoryArchive) -> int:
        """Store (or replace) a story's file; returns its size in bytes. Durable on return."""
        target = self.path(archive.story_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = gzip.compress(archive.to_json(), compresslevel=6)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(body)

    def read(self, story_id: str) -> StoryArchive | None:
        try:
            raw = self.path(story_id).read_bytes()
        except FileNotFoundError:
            return None
        return StoryArchive.from_json(gzip.decompress(raw))

    def size(self) -> tuple[int, int]:
        """(files, bytes) in the archive."""
        files = [p for p in self.folder.glob("*/*.json.gz")] if self.folder.exists() else []
        return len(files), sum(p.stat().st_size for p in files)
