"""All settings, from the environment (prefix STORYFOLD_) or a `.env` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYFOLD_", env_file=".env", extra="ignore")

    # Storage. No URL: the process starts and owns a bundled redis-server persisting to data_dir.
    redis_url: str | None = None
    # redis_url names one node of a Redis Cluster: the client finds the others and follows the
    # slots (MOVED, failover). Every script and MULTI touches one slot (core/keys.py hash tags).
    redis_cluster: bool = False
    # The API's Redis commands give up after this long without an answer, and the request gets a
    # 503: a Redis that stops answering without closing the connection (a network partition, a
    # frozen process) must not hold requests until the kernel gives up. Tried twice on one server;
    # on a cluster, retried through a failover. Workers wait (their reads block on purpose).
    redis_timeout_s: float = Field(5.0, gt=0)
    data_dir: Path = Path("data")
    key_prefix: str = "sf"

    # HTTP edge.
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(2_000_000, gt=0)
    max_batch_articles: int = Field(1000, gt=0)
    page_limit_default: int = Field(20, gt=0)
    page_limit_max: int = Field(200, gt=0)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Worker loop.
    worker_batch: int = Field(16, gt=0)
    block_ms: int = Field(1000, gt=0)
    claim_min_idle_ms: int = Field(
        60_000, ge=0
    )  # a pending entry idle this long belongs to a dead worker
    # A POST noted this long ago and never finished lost its poster (the API or Redis died between
    # its steps): a worker finishes it (core.storage.posting). Far longer than a post takes.
    post_grace_s: float = Field(30.0, gt=0)
    # An article whose processing raises this often is marked failed (with the error), not
    # retried forever.
    max_attempts: int = Field(3, gt=0)
    # Deliveries are counted apart from errors: a worker killed mid-batch is not the article's
    # fault, but one delivered this often without finishing keeps killing workers.
    max_deliveries: int = Field(20, gt=0)
    # Placing articles in stories goes before summaries, unless the oldest waiting summary job is
    # older than this: then summaries go first, so a sustained burst cannot starve them.
    summary_max_lag_s: float = Field(60.0, ge=0)
    embed_batch: int = Field(64, gt=0)
    # Sentences of an article the summary reads (and so embeds), from the top; 0: all. A cap saves
    # model time on long articles and costs the facts only their later paragraphs report (docs/benchmarks.md has the
    # measured trade-off), so it is off unless asked for.
    summary_max_sentences: int = Field(0, ge=0)
    # The embedding backends: "torch" (sentence-transformers) or "onnx-int8" (onnxruntime, exported
    # once into model_cache; refused when its cosine to torch is below embed_min_cosine).
    # embed_backend embeds the headline and lead, which decide the story; summary_embed_backend
    # the remaining sentences, which only the summary's alignment reads. int8 by default: about
    # 7x faster here, cosine >= 0.985 to torch, and the clustering benchmark within 0.005 of
    # torch's on every dataset (docs/benchmarks.md); torch gives torch's exact vectors.
    embed_backend: Literal["torch", "onnx-int8"] = "onnx-int8"
    summary_embed_backend: Literal["torch", "onnx-int8"] = "onnx-int8"
    # Where the onnx-int8 export is cached; shared by every process and data folder of the user
    # (unset: $XDG_CACHE_HOME/storyfold/models, else ~/.cache/storyfold/models).
    model_cache_dir: Path | None = None
    embed_threads: int | None = Field(None, gt=0)  # onnx-int8 batches run side by side; None: cores
    embed_min_cosine: float = Field(0.98, ge=0, le=1)

    # Stories.
    story_window_days: float = Field(
        3.0, gt=0
    )  # online assignment only looks at stories active this recently
    repair_every: int = Field(200, gt=0)  # HDBSCAN repair after this many newly assigned articles
    # The hot window: a story whose latest article is older than this (story time: before the
    # newest article stored) moves its summaries' history and its articles' sentences and vectors
    # to the archive on disk, and comes back when a new article joins it (core.storage.cold).
    hot_days: float = Field(30.0, gt=0)
    # Where the archive lives. Unset: data_dir/archive with the embedded Redis; with an external
    # Redis, no archive (everything stays in Redis) unless every process (API and workers) is
    # given the same folder, e.g. a shared volume.
    archive_dir: Path | None = None
    events_retention: int = Field(10_000, gt=0)  # server-sent events kept for Last-Event-ID resume

    # Reading: feeds, the event stream, access.
    read_keys_required: bool = False  # true: GETs need one of api_keys too (health stays open)
    feed_scan_max: int = Field(
        2000, gt=0
    )  # stories one filtered page examines at most; a sparse filter answers a short page
    feed_snapshot_ttl_s: int = Field(
        600, gt=0
    )  # a sort=size traversal must fetch its next page within this long
    events_block_ms: int = Field(
        1000, gt=0
    )  # one XREAD BLOCK; bounds how long an event stream takes to notice shutdown
    events_heartbeat_s: float = Field(
        15.0, gt=0
    )  # comment lines on an idle stream, so proxies keep the connection open

    # Fetching feeds, their pages and webhook targets (workers/sources, workers/webhooks). Targets
    # resolving to loopback, private, link-local or other non-public addresses are refused unless
    # fetch_allow_private is true or their host name or network is in fetch_allow (comma-separated:
    # "intranet.example,10.0.0.0/8"). Only http(s).
    fetch_allow_private: bool = False
    fetch_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fetch_timeout_s: float = Field(10.0, gt=0)  # connect / read; a whole body gets 3x this
    fetch_max_bytes: int = Field(5_000_000, gt=0)  # a feed or page body larger than this is refused
    fetch_max_redirects: int = Field(5, ge=0)
    fetch_host_interval_s: float = Field(1.0, ge=0)  # at least this long between two requests to a host
    # Sources (feeds followed).
    source_poll_seconds: int = Field(900, gt=0)  # default interval between two polls of a feed
    source_min_poll_seconds: int = Field(60, gt=0)  # the least a POST /sources may ask for
    source_max_backoff_s: int = Field(21_600, gt=0)  # a failing feed is retried at least this often
    source_full_text_chars: int = Field(600, ge=0)  # entry content this long is the article itself
    # An entry whose page failed this many polls is given up (reported, marked seen): until
    # then the feed's validators are not kept, so each poll reads the feed again to retry it.
    source_entry_tries: int = Field(3, gt=0)
    # Webhooks: a failed delivery is retried after webhook_retry_base_s, doubling up to
    # webhook_retry_max_s, for at most webhook_retry_window_s (then given up and logged); a webhook
    # failing webhook_max_failures attempts in a row is disabled.
    webhook_retry_base_s: float = Field(5.0, gt=0)
    webhook_retry_max_s: float = Field(900.0, gt=0)
    webhook_retry_window_s: float = Field(21_600.0, gt=0)
    webhook_max_failures: int = Field(30, gt=0)

    log_json: bool | None = None  # None: JSON when stderr is not a terminal
    heartbeat_s: float = Field(
        5.0, gt=0
    )  # a worker refreshes its liveness key this often; the key expires after three missed beats

    @property
    def model_cache(self) -> Path:
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "storyfold" / "models"

    @property
    def archive(self) -> Path | None:
        """The archive folder in use (None: no archive, the whole history stays in Redis)."""
        if self.archive_dir is not None:
            return self.archive_dir
        return self.data_dir / "archive" if self.redis_url is None else None

    @field_validator("archive_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # STORYFOLD_ARCHIVE_DIR= (as compose passes an empty variable) means no folder, not ".".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_keys", "fetch_allow", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
