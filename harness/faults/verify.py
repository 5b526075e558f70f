"""After the stream: nothing accepted lost, doubled or stale."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import httpx
import redis

from harness.faults.cluster import Cluster
from harness.faults.config import EVERYSEC_LOSS_WINDOW_S, KEYS, FaultReport


def _scan(r: redis.Redis, pattern: str, parts: int) -> list[str]:
    """Keys matching `pattern` with exactly `parts` colon-separated parts (sf:article:<id> but not
    sf:article:<id>:vectors). Generated ids hold no colon."""
    return [
        k.decode() for k in r.scan_iter(match=pattern, count=1000) if k.count(b":") == parts - 1
    ]


def verify(
    cluster: Cluster,
    accepted: dict[str, float],
    seen_stories: dict[str, float],
    hard_kills: list[float],
    report: FaultReport,
) -> None:
    r = cluster.r
    window = EVERYSEC_LOSS_WINDOW_S if cluster.cfg.fsync != "always" else 0.0

    def in_loss_window(t: float) -> bool:
        return any(k - window <= t <= k for k in hard_kills)

    article_keys = _scan(r, KEYS.article("*"), 3)
    pipe = r.pipeline(transaction=False)
    for key in article_keys:
        pipe.hmget(key, "id", "status", "story_id", "source", "text", "html")
        pipe.get(f"{key}:sentences")  # the text, once extracted (the posted text is dropped then)
    stored: dict[str, dict[str, str]] = {}
    raw = pipe.execute()
    for row, sentences in zip(raw[::2], raw[1::2], strict=True):
        aid, status, story_id, source, text, html = (v.decode() if v else "" for v in row)
        stored[aid] = {
            "status": status,
            "story_id": story_id,
            "source": source,
            "body": text or html or (sentences or b"").decode(),
        }

    member_keys = [k for k in _scan(r, KEYS.story_articles("*"), 4) if k.endswith(":articles")]
    pipe = r.pipeline(transaction=False)
    for key in member_keys:
        pipe.zrange(key, 0, -1)
    membership: dict[str, list[str]] = {}
    members_of: dict[str, list[str]] = {}
    for key, members in zip(member_keys, pipe.execute(), strict=True):
        sid = key.split(":")[2].strip("{}")  # sf:story:{<id>}...
        members_of[sid] = [m.decode() for m in members]
        for m in members_of[sid]:
            membership.setdefault(m, []).append(sid)

    lost = lost_window = 0
    statuses: Counter[str] = Counter()
    in_one = in_none = in_several = wrong_story = 0
    for aid in [*accepted, *(a for a in stored if a not in accepted)]:
        if aid not in stored:
            if in_loss_window(accepted[aid]):
                lost_window += 1
            else:
                lost += 1
                report.problems.append(f"accepted article {aid} is not stored")
            continue
        f = stored[aid]
        statuses[f["status"]] += 1
        if f["status"] != "processed":
            report.problems.append(f"article {aid} is {f['status']!r}, not processed")
        stories = membership.get(aid, [])
        if len(stories) == 1:
            in_one += 1
            if stories[0] != f["story_id"]:
                wrong_story += 1
                report.problems.append(f"{aid}: story_id {f['story_id']} but member of {stories}")
        elif not stories:
            in_none += 1
            report.problems.append(f"article {aid} is in no story")
        else:
            in_several += 1
            report.problems.append(f"article {aid} is in {len(stories)} stories: {stories}")
    digests = Counter(
        hashlib.sha1(f"{f['source']}\x1f{' '.join(f['body'].split())}".encode()).hexdigest()
        for f in stored.values()
    )
    copies = sum(n - 1 for n in digests.values() if n > 1)
    if copies:
        report.problems.append(f"{copies} article(s) stored more than once")

    story_keys = _scan(r, KEYS.story("*"), 3)
    pipe = r.pipeline(transaction=False)
    for key in story_keys:
        sid = key.split(":")[2].strip("{}")  # sf:story:{<id>}...
        pipe.hgetall(key)
        pipe.get(KEYS.story_summary(sid))
        pipe.llen(KEYS.story_versions(sid))
    raw = pipe.execute()
    merged = stale = current = 0
    live_stories: dict[str, int] = {}
    for i, key in enumerate(story_keys):
        sid = key.split(":")[2].strip("{}")  # sf:story:{<id>}...
        h = {k.decode(): v.decode() for k, v in raw[3 * i].items()}
        blob, versions = raw[3 * i + 1], int(raw[3 * i + 2])
        if h.get("merged_into"):
            merged += 1
            continue
        count = len(members_of.get(sid, []))
        live_stories[sid] = count
        summary_version = json.loads(blob)["version"] if blob else 0
        problems = []
        if count == 0:
            problems.append("has no members")
        if int(h.get("article_count") or 0) != count:
            problems.append(f"article_count {h.get('article_count')} but {count} members")
        if not (summary_version == int(h.get("summary_version") or 0) == versions) or not blob:
            problems.append(
                f"summary version {summary_version}, story says {h.get('summary_version')}, "
                f"{versions} versions stored"
            )
        if problems:
            stale += 1
            report.problems.append(f"story {sid}: " + "; ".join(problems))
        else:
            current += 1

    # The same through the API, as a client sees it.
    gone_stories = gone_window = unreadable = 0
    with httpx.Client(base_url=cluster.base_url, timeout=30) as http:
        for aid in accepted:
            if aid not in stored:
                continue
            resp = http.get(f"/articles/{aid}")
            if resp.status_code != 200 or resp.json()["story_id"] != stored[aid]["story_id"]:
                unreadable += 1
                report.problems.append(f"GET /articles/{aid}: {resp.status_code} {resp.text[:200]}")
        for sid in sorted(set(seen_stories) | set(live_stories)):
            resp = http.get(f"/stories/{sid}")
            if resp.status_code != 200:
                if sid in seen_stories and in_loss_window(seen_stories[sid]):
                    gone_window += 1
                    continue
                gone_stories += 1
                report.problems.append(f"GET /stories/{sid}: {resp.status_code}")
            elif sid in live_stories and resp.json()["article_count"] != len(
                resp.json()["articles"]
            ):
                report.problems.append(f"GET /stories/{sid}: article_count != articles listed")
    queue = cluster.queue_stats()
    if queue["pending"] or queue["lag"]:
        report.problems.append(f"queue not drained: {queue}")

    report.add("accepted ids (2xx)", len(accepted), "accepted")
    report.add("stored articles", len(stored), "stored")
    report.add("lost: accepted, not stored", lost, "lost")
    if window:
        report.add(
            f"lost in a hard-kill window ({window:.0f} s before a Redis SIGKILL, everysec)",
            lost_window,
            "lost_window",
        )
    report.add("processed", statuses["processed"], "processed")
    report.add(
        "not processed (failed / queued / clustered)",
        sum(statuses.values()) - statuses["processed"],
        "not_processed",
    )
    report.add("in exactly one story", in_one, "in_one_story")
    report.add("in no story", in_none, "in_no_story")
    report.add("in several stories", in_several, "in_several_stories")
    report.add("story_id disagrees with membership", wrong_story, "wrong_story")
    report.add("stored twice (same source + text)", copies, "copies")
    report.add("unreadable via GET /articles/{id}", unreadable, "unreadable")
    report.add("stories (live / merged)", f"{len(live_stories)} / {merged}")
    report.counts["stories"] = len(live_stories)
    report.add("summaries current", current, "summaries_current")
    report.add("summaries stale or counts off", stale, "summaries_stale")
    report.add("story ids returned during the run", len(seen_stories), "stories_seen")
    report.add("story ids no longer answering 200", gone_stories, "stories_gone")
    if window:
        report.add("  of them created in a hard-kill window", gone_window, "stories_gone_window")
    report.add("queue pending / lag after recovery", f"{queue['pending']} / {queue['lag']}")
