"""Short invented news items for the fault and load runs: distinct events, each reported by several
outlets in their own words, so the worker folds them into many stories of a few articles each.

Deterministic for a seed; every article's source + text is unique, so the service's content
de-duplication never folds two generated articles into one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

# (what happened, the fact a report states, a follow-up detail). {n} and {m} are numbers that
# differ per event, so two events of one kind never read as the same report.
KINDS = [
    ("flood", "the river rose {n} metres above its normal level and {m} residents were evacuated",
     "sandbags were handed out at the town hall"),
    ("port strike", "dock workers stopped loading ships over pay, leaving {n} vessels at anchor",
     "the union said talks would resume within {m} days"),
    ("wildfire", "firefighters fought a blaze that burned {n} hectares of forest",
     "{m} homes near the hills were cleared as a precaution"),
    ("rail outage", "a signal failure halted {n} trains at the central station",
     "about {m} commuters were stranded during the morning rush"),
    ("bank merger", "two regional lenders agreed a {n} million euro all-share deal",
     "the combined bank will keep {m} branches open"),
    ("earthquake", "a magnitude {n}.{m} earthquake shook buildings before dawn",
     "engineers began checking bridges and schools for cracks"),
    ("factory fire", "a fire at a paint factory sent smoke over {n} streets",
     "{m} workers were treated for smoke inhalation"),
    ("bridge collapse", "part of a road bridge fell into the canal, injuring {n} people",
     "divers searched the water for {m} hours"),
    ("chemical spill", "a tanker leaked {n} litres of solvent into a stream",
     "water intakes for {m} villages were closed"),
    ("power blackout", "a substation fault cut electricity to {n} thousand homes",
     "power was restored after {m} hours"),
    ("airport closure", "fog and a radar fault closed the airport, cancelling {n} flights",
     "{m} passengers spent the night in the terminal"),
    ("hospital strike", "nurses walked out for {n} hours demanding more staff",
     "{m} planned operations were postponed"),
    ("data breach", "hackers stole records of {n} thousand customers from a utility",
     "the company said {m} passwords had to be reset"),
    ("museum theft", "thieves took {n} gold coins from the city museum at night",
     "police released images of {m} suspects"),
    ("ferry accident", "a ferry ran aground with {n} passengers on board",
     "coast guard boats brought {m} people ashore"),
    ("heatwave", "temperatures reached {n} degrees for a third day",
     "{m} cooling centres opened in libraries and schools"),
    ("snowstorm", "a storm dumped {n} centimetres of snow overnight",
     "{m} schools stayed closed"),
    ("landslide", "a landslide buried a mountain road under {n} tonnes of rock",
     "{m} hikers were flown out by helicopter"),
    ("court ruling", "the high court struck down a zoning law in a {n} to {m} decision",
     "the city council said it would draft a new law"),
    ("stadium opening", "a new stadium with {n} thousand seats opened with a derby",
     "{m} extra trams ran after the match"),
    ("drug recall", "a drug maker recalled {n} batches of a blood pressure pill",
     "pharmacies were told to check {m} lot numbers"),
    ("zoo birth", "the zoo announced the birth of a rare snow leopard cub weighing {n} hundred grams",
     "visitors can see the cub in {m} weeks"),
    ("cyclone", "a cyclone with winds of {n} kilometres an hour made landfall",
     "{m} shelters took in families from the coast"),
    ("mine rescue", "rescuers reached {n} miners trapped by a tunnel collapse",
     "the miners had been underground for {m} hours"),
]  # fmt: skip

CITIES = [
    "Dresden", "Rotterdam", "Porto", "Gdansk", "Valencia", "Tampere", "Brno", "Ghent", "Bilbao",
    "Aarhus", "Graz", "Turin", "Lyon", "Cork", "Malmo", "Plovdiv", "Kaunas", "Split", "Bergen",
    "Leeds", "Basel", "Utrecht", "Seville", "Krakow", "Lille", "Naples", "Bremen", "Tartu",
    "Debrecen", "Ljubljana",
]  # fmt: skip

OUTLETS = [
    "daily-courier",
    "metro-wire",
    "harbour-post",
    "evening-star",
    "civic-news",
    "the-ledger",
]

# Each outlet tells it differently: other words, other order, its own extra detail.
TEMPLATES = [
    ("{What} in {where}",
     "In {where}, {fact}, officials said on {day}. The {what} was the most serious in years, "
     "according to local authorities. {Detail}."),
    ("{where} hit by {what}",
     "Authorities in {where} confirmed on {day} that {fact}. {Detail}, a spokesperson added. "
     "Residents described hours of confusion."),
    ("{What}: what we know about {where}",
     "Here is what we know: {fact}, the {where} mayor's office said. The {what} began on "
     "{day}. {Detail}."),
    ("{where} {what} leaves city counting the cost",
     "{Detail}, a day after {fact} in {where}. Officials called the {what} a serious test "
     "for the region."),
    ("Live: {what} in {where}",
     "{Fact}, according to emergency services in {where}. The {what} was first reported on "
     "{day} morning. {Detail}."),
    ("{where}: {what} update",
     "An update from {where}: {fact}. City officials said on {day} that {detail}."),
]  # fmt: skip

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
T0 = datetime(2025, 7, 1, 6, 0, tzinfo=UTC)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def event_article(event: int, outlet: int) -> dict[str, Any]:
    """Outlet `outlet`'s report of event number `event`."""
    what, fact, detail = KINDS[event % len(KINDS)]
    where = CITIES[(event // len(KINDS) + event * 7) % len(CITIES)]
    n, m = 2 + (event * 37) % 97, 3 + (event * 53) % 89
    fact, detail = fact.format(n=n, m=m), detail.format(n=n, m=m)
    title, text = TEMPLATES[outlet % len(TEMPLATES)]
    slots = {
        "what": what,
        "What": _cap(what),
        "where": where,
        "fact": fact,
        "Fact": _cap(fact),
        "detail": detail,
        "Detail": _cap(detail),
        "day": DAYS[event % len(DAYS)],
    }
    published = T0 + timedelta(minutes=20 * event + 7 * outlet)
    return {
        "source": OUTLETS[outlet % len(OUTLETS)],
        "title": _cap(title.format(**slots)) + f" ({event})",
        "text": text.format(**slots),
        "published_at": published.isoformat(),
    }


def news(articles: int, per_event: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """`articles` reports of about articles / per_event events, shuffled so an event's reports
    arrive spread over the run, as they would from several outlets."""
    per_event = max(1, min(per_event, len(OUTLETS)))
    out = [event_article(i // per_event, i % per_event) for i in range(articles)]
    random.Random(seed).shuffle(out)
    return out
