"""Every Redis key and stream name, in one place (as arq's constants.py).

Hash tags (Redis Cluster): every key of one article carries `{<article id>}`, every key of one
story `{<story id>}`, so each per-article or per-story script and MULTI touches one slot. The
coordination keys (sequences, feed order, change log, events, locks, heartbeats, sources,
webhooks) all carry `{<prefix>}`: one slot, so the few scripts that span them stay atomic. Below,
`{p}` is the prefix; coordination keys read `{{p}}:...` in Redis, article keys
`{p}:article:{<id>}...`, story keys `{p}:story:{<id>}...`. Streams, the URL/content indexes, the
unfinished posts, the dedup bands and metrics are single-key and carry no tag (each its own slot).

Layout (prefix `sf` by default):
  {p}:stream:articles          stream of article ids to place in a story (consumer group `workers`)
  {p}:stream:summaries         stream of placed article ids whose story summary must take them in
  {p}:article:{id}             hash: the posted article, its status and story (placed_at and
                               processed_at: when it got them, unix seconds)
  {p}:article:{id}:sentences   string: JSON list of clean sentences
  {p}:article:{id}:vectors     string: int8 rows + a scale each, one per embedded sentence
  {p}:article:{id}:vector      string: float32 article vector (title + lead), for the repair
  {p}:article:{id}:minhash     string: MinHash signature, expires after the dedup window
  {p}:article:{id}:rest        string: which worker embeds the article's other sentences (TTL)
  {p}:dedup:{day}              hash: LSH band key -> first article with it, one hash per day
  {p}:idx:url:{sha1}           string: article id owning a canonical URL
  {p}:idx:content:{sha1}       string: article id owning a source + text pair
  {p}:posts:unfinished         zset: article ids whose POST is under way (or died), scored by its start
  {p}:story:{id}               hash: public story fields (headline, counts, links)
  {p}:story:{id}:state         hash: the assigner's state (centroid sum, size, times)
  {p}:story:{id}:evidence      string: JSON profile of the story's words, names, numbers (assign)
  {p}:terms:df                 hash: term -> number of articles that used it (online idf)
  {p}:terms:docs               counter: articles counted into terms:df
  {p}:story:{id}:articles      zset: member article ids scored by published time
  {p}:story:{id}:summary       string: JSON summary, current version
  {p}:story:{id}:versions      list: JSON summaries, oldest first (thinned: empty rows)
  {p}:story:{id}:version_days  list: the UTC day each version was written (for the thinning)
  {p}:stories:updated          zset: story id scored by its last update sequence number
  {p}:stories:active           zset: story id scored by its latest article time (assignment window)
  {p}:stories:cold             zset: story id scored by when its heavy keys moved to the archive
  {p}:lock:cold                lock held by the one worker moving quiet stories to the archive
  {p}:cold:cursor              string: story time up to which every quiet story was moved
  {p}:cold:moving              string: the story whose move was under way (finished next pass)
  {p}:cold:deferred            zset: quiet stories left hot because their summary was behind
  {p}:seq:update               counter: monotonic story update sequence
  {p}:stories:state_changed    zset: story id scored by seq:state at its last assigner-state change
  {p}:seq:state                counter: assigner-state change sequence (core.storage.story_index)
  {p}:lock:assign              lock held while a worker opens a new story (and by the repair)
  {p}:story:{id}:lock          lock held while an article joins the story (or the story moves)
  {p}:lock:repair              lock held by the one worker running the HDBSCAN repair
  {p}:repair:due               counter: articles assigned since the last repair
  {p}:stream:events            stream of story events (server-sent events)
  {p}:feed:size:{seq}          zset: frozen story sizes for one sort=size traversal (expires)
  {p}:feed:size:latest         string with a TTL: the seq of the snapshot fresh traversals reuse
  {p}:readyz                   string with a TTL: /readyz's write probe
  {p}:metrics                  hash: counters and histogram buckets for /metrics (core.storage.metrics)
  {p}:workers                  zset: worker names scored by their last heartbeat (unix time)
  {p}:worker:{name}            hash with a TTL: one worker's heartbeat (model_loaded, processed)
  {p}:source:{id}              hash: a followed feed, its validators and its last poll's report
  {p}:source:{id}:seen         set: entry keys already turned into articles
  {p}:source:{id}:lease        string with a TTL: the worker polling this source now
  {p}:sources:due              zset: source id scored by its next poll time (unix seconds)
  {p}:idx:source:{sha1}        string: source id following a URL
  {p}:host:{host}:lease        string with a TTL: the one request in flight to a host
  {p}:host:{host}:next         string with a TTL: no request to the host before this unix time
  {p}:story:{id}:feeditem      hash: the summary version the story's feed item shows, since when
  {p}:webhook:{id}             hash: a webhook (url, events, secret, enabled, failures in a row)
  {p}:webhooks                 set: webhook ids
  {p}:webhook:{id}:log         list: the last delivery attempts, newest first (JSON)
  {p}:webhook:{id}:q:{story}   list: deliveries of one story to one webhook, in event order
  {p}:webhook:{id}:lease:{story}  string with a TTL: the worker sending that queue's head
  {p}:webhooks:due             zset: "{webhook}|{story}" scored by its head's next attempt time
  {p}:webhooks:fanned          hash: story id -> the summary version its last fanned-out event covered
"""

from __future__ import annotations

from dataclasses import dataclass

WORKER_GROUP = "workers"


@dataclass(frozen=True)
class Keys:
    prefix: str = "sf"

    @property
    def _g(self) -> str:
        """The coordination keys' prefix: `{sf}`, one hash slot for every key a cross-story
        script or transaction touches (sequences, the feed order, the change log, locks)."""
        return f"{{{self.prefix}}}"

    @property
    def articles_stream(self) -> str:
        return f"{self.prefix}:stream:articles"

    @property
    def summaries_stream(self) -> str:
        return f"{self.prefix}:stream:summaries"

    @property
    def events_stream(self) -> str:
        return f"{self._g}:stream:events"

    def article(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}"

    def article_sentences(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}:sentences"

    def article_vectors(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}:vectors"

    def article_vector(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}:vector"

    def article_rest_claim(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}:rest"

    def article_minhash(self, article_id: str) -> str:
        return f"{self.prefix}:article:{{{article_id}}}:minhash"

    def dedup_bands(self, day: int) -> str:
        return f"{self.prefix}:dedup:{day}"

    def url_index(self, digest: str) -> str:
        return f"{self.prefix}:idx:url:{digest}"

    def content_index(self, digest: str) -> str:
        return f"{self.prefix}:idx:content:{digest}"

    @property
    def posts_unfinished(self) -> str:
        return f"{self.prefix}:posts:unfinished"

    def story(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}"

    def story_state(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:state"

    def story_lock(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:lock"

    def story_evidence(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:evidence"

    @property
    def term_df(self) -> str:
        return f"{self.prefix}:terms:df"

    @property
    def term_docs(self) -> str:
        return f"{self.prefix}:terms:docs"

    def story_articles(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:articles"

    def story_summary(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:summary"

    def story_versions(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:versions"

    def story_version_days(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:version_days"

    @property
    def stories_updated(self) -> str:
        return f"{self._g}:stories:updated"

    @property
    def stories_active(self) -> str:
        return f"{self._g}:stories:active"

    @property
    def stories_cold(self) -> str:
        """Story id scored by when its heavy keys moved to the archive (core.storage.cold)."""
        return f"{self._g}:stories:cold"

    @property
    def cold_lock(self) -> str:
        return f"{self._g}:lock:cold"

    @property
    def cold_cursor(self) -> str:
        return f"{self._g}:cold:cursor"

    @property
    def cold_moving(self) -> str:
        return f"{self._g}:cold:moving"

    @property
    def cold_deferred(self) -> str:
        """Quiet stories passed over because their summary was behind; retried each pass."""
        return f"{self._g}:cold:deferred"

    @property
    def update_seq(self) -> str:
        return f"{self._g}:seq:update"

    @property
    def stories_state_changed(self) -> str:
        return f"{self._g}:stories:state_changed"

    @property
    def state_seq(self) -> str:
        return f"{self._g}:seq:state"

    @property
    def assign_lock(self) -> str:
        return f"{self._g}:lock:assign"

    @property
    def repair_lock(self) -> str:
        return f"{self._g}:lock:repair"

    @property
    def repair_due(self) -> str:
        return f"{self._g}:repair:due"

    def feed_size_snapshot(self, seq: int) -> str:
        return f"{self._g}:feed:size:{seq}"

    @property
    def feed_size_latest(self) -> str:
        return f"{self._g}:feed:size:latest"

    @property
    def write_probe(self) -> str:
        return f"{self._g}:readyz"

    @property
    def metrics(self) -> str:
        return f"{self.prefix}:metrics"

    @property
    def workers(self) -> str:
        return f"{self._g}:workers"

    def worker(self, name: str) -> str:
        return f"{self._g}:worker:{name}"

    # -- sources (feeds followed) --------------------------------------------------------------
    def source(self, source_id: str) -> str:
        return f"{self._g}:source:{source_id}"

    def source_seen(self, source_id: str) -> str:
        return f"{self._g}:source:{source_id}:seen"

    def source_entry_tries(self, source_id: str) -> str:
        """entry key → failed attempts, for entries not yet stored (cleared when stored)."""
        return f"{self._g}:source:{source_id}:tries"

    def source_lease(self, source_id: str) -> str:
        return f"{self._g}:source:{source_id}:lease"

    @property
    def sources_due(self) -> str:
        return f"{self._g}:sources:due"

    def source_index(self, digest: str) -> str:
        return f"{self._g}:idx:source:{digest}"

    def host_lease(self, host: str) -> str:
        return f"{self._g}:host:{host}:lease"

    def host_next(self, host: str) -> str:
        return f"{self._g}:host:{host}:next"

    def story_feed_item(self, story_id: str) -> str:
        return f"{self.prefix}:story:{{{story_id}}}:feeditem"

    # -- webhooks ------------------------------------------------------------------------------
    def webhook(self, hook_id: str) -> str:
        return f"{self._g}:webhook:{hook_id}"

    @property
    def webhooks(self) -> str:
        return f"{self._g}:webhooks"

    def webhook_log(self, hook_id: str) -> str:
        return f"{self._g}:webhook:{hook_id}:log"

    def webhook_queue(self, hook_id: str, story_id: str) -> str:
        return f"{self._g}:webhook:{hook_id}:q:{story_id}"

    def webhook_lease(self, hook_id: str, story_id: str) -> str:
        return f"{self._g}:webhook:{hook_id}:lease:{story_id}"

    @property
    def webhooks_due(self) -> str:
        return f"{self._g}:webhooks:due"

    @property
    def webhooks_fanned(self) -> str:
        return f"{self._g}:webhooks:fanned"
