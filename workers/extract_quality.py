"""Is the clean text an article at all? Index pages, section fronts and paywall stubs are not.

Posted or polled "articles" are sometimes a site's section front ("World news – <site>": a list of
headlines with a teaser each), a navigation page, or a paywall stub. Embedded, a list of
headlines sits near every story it lists and pulls them together, so such a page must not join a
story. What gives it away after extraction (workers.extract) is the shape of the text: most of its
lines are headings, links and furniture that extract dropped, and what is left is a few teasers,
not a run of reporting sentences. A bare headline (a feed item) is a different thing: one line,
nothing dropped, and it stays an article.

Pure: not_an_article(extracted) -> the failure reason, or None.
"""

from __future__ import annotations

import re

from workers.extract import Extracted

# A page whose dropped lines (headings, links, furniture) are at least this many, and at least
# as many as the reporting sentences left, is a list of headlines, not a report: an article has
# a handful of subheads and captions against tens of sentences.
MIN_PAGE_LINES = 5
# ...twice as many, or as many beside a short text: an article quoting a tweet line by line
# (a chant, a list) can drop as many lines as it keeps sentences, but it keeps hundreds of words.
SHORT_PROSE_WORDS = 150
# Fewer words of prose than this, beside at least MIN_STUB_PAGE_LINES dropped lines: navigation,
# a stub or a teaser, not a report (a short wire brief has no dropped lines).
MIN_PROSE_WORDS = 40
MIN_STUB_PAGE_LINES = 3

_PAYWALL_RE = re.compile(
    r"\b(?:subscribe (?:now |today )?to (?:continue|read)|to continue reading|already a "
    r"subscriber|subscribers only|for subscribers|sign in to (?:continue|read)|create a free "
    r"account to (?:continue|read)|this (?:article|content) is (?:only )?available to)\b",
    re.IGNORECASE,
)
# "World news – The Guardian", "Latest News | Reuters", "Politics - BBC News": a section front's
# own title. Only a hint: it fails a page only together with little prose.
_SECTION_TITLE_RE = re.compile(
    r"^\s*(?:(?:world|latest|top|breaking|business|politics|sport|sports|tech|technology|science"
    r"|health|uk|us|europe|asia|africa|opinion|local|national)\s+)?(?:news|headlines|stories)"
    r"\s*(?:$|[-–—|:])",
    re.IGNORECASE,
)


def prose_words(extracted: Extracted) -> int:
    return sum(len(s.split()) for s in extracted.sentences)


def not_an_article(extracted: Extracted) -> str | None:
    """Why this is not a news report (a failure reason), or None when it reads as one."""
    words = prose_words(extracted)
    sentences = len(extracted.sentences)
    dropped = extracted.page_lines
    text = " ".join([*extracted.sentences, *extracted.dropped])
    if _PAYWALL_RE.search(text) and words < 3 * MIN_PROSE_WORDS:
        return f"not an article: paywall stub ({words} words of prose)"
    if dropped >= MIN_PAGE_LINES and (
        dropped >= 2 * sentences or (dropped >= sentences and words < SHORT_PROSE_WORDS)
    ):
        return (
            f"not an article: index or navigation page ({dropped} of {extracted.lines} lines are"
            f" headlines, links or page furniture; {sentences} sentences of prose)"
        )
    if dropped >= MIN_STUB_PAGE_LINES and words < MIN_PROSE_WORDS:
        return f"not an article: too little prose ({words} words beside {dropped} dropped lines)"
    title = extracted.title or ""
    if _SECTION_TITLE_RE.match(title) and sentences < 3:
        return f"not an article: section front ({title!r}, {sentences} sentences of prose)"
    return None
