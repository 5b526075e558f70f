"""Three invented outlets covering the same two invented events, as an RSS 2.0 feed, an Atom feed
and a JSON Feed whose entries link to HTML pages (served by tests/loopback_server.py)."""

from __future__ import annotations

import json
from html import escape

from loopback_server import LoopbackServer, Reply, Seen

# (outlet, event) -> (title, paragraphs). Written for these tests; the events never happened.
STORIES: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("northwind", "dam"): (
        "Kestrel Valley dam breach forces 4,000 residents to evacuate",
        [
            "About 4,000 residents of Kestrel Valley were evacuated on Tuesday after the earthen "
            "dam above the town of Millbrook partly gave way following three days of heavy rain.",
            "Water poured through a 30-metre gap in the dam wall shortly before dawn, flooding the "
            "lower streets of Millbrook and cutting the valley road in two places.",
            "Regional governor Helena Marsh said no deaths had been reported and that two people "
            "were treated in hospital for hypothermia.",
            "Engineers from the water authority said the reservoir level had fallen by four metres "
            "by the afternoon and that the remaining wall was being watched around the clock.",
            "Schools across the valley will stay closed until Friday, the governor said.",
        ],
    ),
    ("harbor", "dam"): (
        "Dam breach in Kestrel Valley: thousands evacuated from Millbrook",
        [
            "Thousands of people were evacuated from Millbrook in Kestrel Valley on Tuesday when "
            "part of the earthen dam above the town collapsed after days of torrential rain.",
            "A gap about 30 metres wide opened in the dam wall before dawn and floodwater swept "
            "into the lower part of Millbrook, closing the valley road.",
            "Governor Helena Marsh said around 4,000 residents had left their homes, that nobody "
            "had died and that two people were being treated for hypothermia.",
            "The water authority said the reservoir had dropped four metres and that engineers "
            "were monitoring the rest of the dam wall day and night.",
            "Local farmers said fields along the river were under a metre of water.",
        ],
    ),
    ("ledger", "dam"): (
        "Millbrook dam gives way after heavy rain, 4,000 evacuated in Kestrel Valley",
        [
            "The earthen dam above Millbrook in Kestrel Valley partly collapsed on Tuesday after "
            "three days of heavy rain, and about 4,000 residents were evacuated.",
            "Floodwater rushed through a 30-metre breach in the dam wall before dawn and flooded "
            "low-lying streets in Millbrook.",
            "No deaths were reported, governor Helena Marsh told reporters, and two people were "
            "taken to hospital with hypothermia.",
            "According to the water authority the reservoir level fell by four metres and the "
            "remaining dam wall is under constant watch by engineers.",
            "The army sent two helicopters to help with the evacuation, a spokesman said.",
        ],
    ),
    ("northwind", "ferry"): (
        "Port Alder ferry workers strike, halting crossings to Gull Island",
        [
            "Ferry crews in Port Alder walked off the job on Wednesday, halting all crossings "
            "between the mainland and Gull Island for the first time in eleven years.",
            "The Maritime Workers Union said its 600 members were striking over pay and a plan "
            "to cut crews on the night sailings.",
            "Ferry operator Alder Lines said about 9,000 passengers a day would be affected and "
            "called the strike unnecessary.",
            "Union leader Tomas Reyes said the walkout would last 48 hours unless the company "
            "returned to talks.",
            "Island shops warned that fresh food deliveries would run short by the weekend.",
        ],
    ),
    ("harbor", "ferry"): (
        "Strike by Port Alder ferry crews stops Gull Island crossings",
        [
            "All ferry crossings between Port Alder and Gull Island stopped on Wednesday as crews "
            "went on strike for the first time in eleven years.",
            "The Maritime Workers Union said 600 of its members walked out over wages and plans "
            "to reduce crew numbers on night sailings.",
            "Alder Lines, which runs the ferries, said roughly 9,000 passengers a day were "
            "affected and urged the union to call off the action.",
            "The strike is set to last 48 hours, union leader Tomas Reyes said, unless the "
            "operator comes back to the negotiating table.",
            "Commuters queued for the single small private boat still running.",
        ],
    ),
    ("ledger", "ferry"): (
        "Gull Island cut off as Port Alder ferry crews begin 48-hour strike",
        [
            "Ferry crews in Port Alder began a 48-hour strike on Wednesday, stopping crossings to "
            "Gull Island for the first time in eleven years.",
            "About 600 members of the Maritime Workers Union are taking part in the walkout over "
            "pay and proposed crew cuts on night sailings.",
            "Operator Alder Lines said some 9,000 passengers a day would be hit by the strike.",
            "Union leader Tomas Reyes said crews would return after 48 hours or sooner if Alder "
            "Lines resumed talks.",
            "The island's health centre said it had arranged a boat for medical emergencies.",
        ],
    ),
}
DATES = {"dam": "2026-03-03T07:30:00Z", "ferry": "2026-03-04T06:15:00Z"}
RFC822 = {"dam": "Tue, 03 Mar 2026 07:30:00 GMT", "ferry": "Wed, 04 Mar 2026 06:15:00 GMT"}
EVENTS = ("dam", "ferry")


def page(outlet: str, event: str) -> bytes:
    title, paragraphs = STORIES[(outlet, event)]
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{escape(title)} | {outlet.title()}</title></head>"
        f"<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        f"<footer>Copyright {outlet.title()} Media. Subscribe to our newsletter.</footer>"
        f"</body></html>"
    ).encode()


def link(base: str, outlet: str, event: str) -> str:
    return f"{base}/{outlet}/2026/03/{event}.html"


def rss(base: str) -> bytes:
    """Northwind Gazette: RSS 2.0, one-line descriptions (the poller fetches the pages)."""
    items = "".join(
        f"<item><title>{escape(STORIES[('northwind', e)][0])}</title>"
        f"<link>{link(base, 'northwind', e)}</link><guid>{link(base, 'northwind', e)}</guid>"
        f"<pubDate>{RFC822[e]}</pubDate>"
        f"<description>{escape(STORIES[('northwind', e)][1][0][:80])}…</description></item>"
        for e in EVENTS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Northwind Gazette</title><link>{base}/northwind/</link>"
        f"<description>News</description>{items}</channel></rss>"
    ).encode()


def atom(base: str) -> bytes:
    """Harbor Daily: Atom, summaries only."""
    entries = "".join(
        f"<entry><title>{escape(STORIES[('harbor', e)][0])}</title>"
        f'<link rel="alternate" href="{link(base, "harbor", e)}"/>'
        f"<id>urn:harbor:{e}</id><updated>{DATES[e]}</updated><published>{DATES[e]}</published>"
        f"<summary>{escape(STORIES[('harbor', e)][1][0][:90])}</summary></entry>"
        for e in EVENTS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Harbor Daily</title><id>urn:harbor</id><updated>{DATES['ferry']}</updated>"
        f'<link rel="self" href="{base}/harbor/atom.xml"/>{entries}</feed>'
    ).encode()


def json_feed(base: str) -> bytes:
    """The Ledger: JSON Feed 1.1 with each story's full text in content_html (no page fetch)."""
    items = [
        {
            "id": f"ledger-{e}",
            "url": link(base, "ledger", e),
            "title": STORIES[("ledger", e)][0],
            "date_published": DATES[e],
            "content_html": "".join(f"<p>{escape(p)}</p>" for p in STORIES[("ledger", e)][1]),
        }
        for e in EVENTS
    ]
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "The Ledger",
            "home_page_url": f"{base}/ledger/",
            "items": items,
        }
    ).encode()


def serve_outlets(server: LoopbackServer) -> None:
    """Feeds with validators: RSS and JSON by ETag, Atom by Last-Modified (304 when unchanged)."""
    base = server.base

    def by_etag(body: bytes, kind: str) -> object:
        def route(seen: Seen) -> Reply:
            if seen.headers.get("if-none-match") == '"v1"':
                return Reply(304, headers={"ETag": '"v1"'})
            return Reply(200, body, {"Content-Type": kind, "ETag": '"v1"'})

        return route

    def by_date(seen: Seen) -> Reply:
        stamp = "Wed, 04 Mar 2026 07:00:00 GMT"
        if seen.headers.get("if-modified-since") == stamp:
            return Reply(304)
        return Reply(
            200, atom(base), {"Content-Type": "application/atom+xml", "Last-Modified": stamp}
        )

    server.routes["/northwind/rss.xml"] = by_etag(rss(base), "application/rss+xml")  # type: ignore[assignment]
    server.routes["/harbor/atom.xml"] = by_date
    server.routes["/ledger/feed.json"] = by_etag(json_feed(base), "application/feed+json")  # type: ignore[assignment]
    for outlet, event in STORIES:
        html = page(outlet, event)
        server.routes[f"/{outlet}/2026/03/{event}.html"] = lambda seen, html=html: Reply(
            200, html, {"Content-Type": "text/html; charset=utf-8"}
        )
