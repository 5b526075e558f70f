"""An invented story, unrelated to the seeds, for the summariser tests: a food recall reported by
four outlets plus one syndicated copy.

Planted, so the tests know the answer:
- shared facts, worded differently per outlet: the 48,000-pound recall, listeria found in routine
  federal testing, Kroger and Safeway stores, throw away or return for a refund, the Fresno plant
  stopping production;
- one numeric contradiction: 12 hospitalized (gazette, metro) against 15 (valley);
- compatible variants that are not conflicts: "about"/"nearly"/"roughly 48,000 pounds", "12
  states"/"a dozen states", "Thursday"/"March 6, 2025" (a Thursday);
- one fact per outlet that no other outlet reports (the CEO's apology, the lot codes, the
  lawsuit, the 2019 recall and the share price);
- a look-alike that is a different fact: the 2019 recall of 9,000 pounds of beef dumplings;
- captions, credits, a dateline and "Read more"/share lines that must not reach the summary;
- a near-duplicate (the herald runs the gazette's story) that must count as the gazette only.
"""

from __future__ import annotations

from datetime import UTC, datetime

GAZETTE = "riverside-gazette.example"
VALLEY = "valley-news.example"
METRO = "metro-daily.example"
COASTAL = "coastal-tribune.example"
HERALD = "lakeside-herald.example"  # syndicates the gazette's article

PUBLISHED = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)  # a Friday; "Thursday" is March 6

GAZETTE_TEXT = (
    "\n".join(
        [
            "Brightway Foods recalls frozen dumplings over listeria fears",
            "Brightway Foods is recalling about 48,000 pounds of frozen chicken dumplings because"
            " they may be contaminated with Listeria monocytogenes, federal regulators said on "
            "Thursday.",
            "The problem was discovered during routine product testing by the U.S. Department of "
            "Agriculture's Food Safety and Inspection Service.",
            "The dumplings were sold at Kroger and Safeway stores in 12 states.",
            "Twelve people have been hospitalized with listeriosis after eating the dumplings, "
            "health officials said.",
            '"We are deeply sorry and are working around the clock with regulators," chief '
            "executive Dana Whitfield said in a statement.",
            "Consumers who bought the product should throw it away or return it to the store for "
            "a full refund.",
            "Photo: Frozen dumplings in a freezer aisle. (AP Photo/Mark Lennihan)",
            "Read more: How listeria spreads in frozen foods",
        ]
    )
    + "\n"
)

VALLEY_TEXT = (
    "\n".join(
        [
            "FRESNO, Calif. (AP) — Federal food safety officials announced on March 6, 2025 that "
            "Brightway Foods would recall nearly 48,000 pounds of frozen chicken dumplings that "
            "may carry listeria.",
            "Inspectors from the USDA's Food Safety and Inspection Service found the bacteria in "
            "samples taken during routine testing.",
            "According to the agency, 15 people were hospitalized in four states.",
            "The recalled bags carry lot codes 4471 and 4472 and a best-by date of Oct. 12, 2025.",
            "Shoppers should discard the dumplings or take them back to the store where they were"
            " bought for a refund.",
            "",
            "FILE PHOTO: A Brightway Foods sign outside the plant in Fresno, Calif., March 2025. "
            "REUTERS/Staff",
            "The company's plant in Fresno, California, has stopped production while it is "
            "cleaned and inspected.",
        ]
    )
    + "\n"
)

METRO_TEXT = (
    "\n".join(
        [
            "Brightway Foods pulls 48,000 pounds of chicken dumplings from shelves",
            "By Priya Raman",
            "Brightway Foods has pulled roughly 48,000 pounds of frozen chicken dumplings from "
            "store shelves over possible listeria contamination, the company confirmed Thursday.",
            "Federal inspectors detected the bacteria in routine tests, the USDA said.",
            "Twelve people have been hospitalized, and no deaths have been reported.",
            "The dumplings were distributed to Kroger and Safeway supermarkets across a dozen states.",
            "A family in Sacramento filed a class-action lawsuit against the company on Friday, "
            "alleging it ignored earlier warnings from a plant inspector.",
            "Share this article",
        ]
    )
    + "\n"
)

COASTAL_TEXT = (
    "\n".join(
        [
            "Brightway Foods announced a recall of its frozen chicken dumplings on Thursday after"
            " federal testing found possible listeria contamination.",
            "The recall covers about 48,000 pounds of product sold in Kroger and Safeway stores.",
            "The Fresno plant where the dumplings are made has halted operations pending a deep "
            "cleaning, a company spokesperson said.",
            "It is the company's second recall in six years: in 2019, Brightway recalled 9,000 "
            "pounds of beef dumplings over undeclared allergens.",
            "Customers can return the product for a refund or throw it away.",
            "Brightway shares fell 4 percent in after-hours trading.",
        ]
    )
    + "\n"
)

# (source, article_id, text, duplicate_of)
ARTICLES: list[tuple[str, str, str, str | None]] = [
    (GAZETTE, "a1-gazette", GAZETTE_TEXT, None),
    (VALLEY, "a2-valley", VALLEY_TEXT, None),
    (METRO, "a3-metro", METRO_TEXT, None),
    (COASTAL, "a4-coastal", COASTAL_TEXT, None),
    (HERALD, "a5-herald", GAZETTE_TEXT, "a1-gazette"),
]

# A council meeting told three ways: the first two lengths are compatible wordings of one
# duration, the third contradicts them.
MEETING_TWO_HOUR = (
    "The city council held a two-hour meeting on Monday to debate the new transit budget. "
    "Council members approved the plan by a vote of seven to two."
)
MEETING_OVER_TWO_HOURS = (
    "The city council met for over two hours on Monday to debate the new transit budget. "
    "The plan passed with seven council members in favour."
)
MEETING_THIRTY_MINUTES = (
    "The city council held a 30-minute meeting on Monday to debate the new transit budget. "
    "Council members quickly approved the plan."
)

# One quote, two speakers: the misattribution is a conflict about who said it.
FARES_MAYOR = (
    '"We will not raise fares this year," Mayor Lena Ortiz said after the council vote on '
    "Tuesday. The council approved the transit budget by a vote of seven to two."
)
FARES_CHAIR = (
    '"We will not raise fares this year," said council finance chair Tom Reyes after the vote '
    "on Tuesday. The transit budget passed seven votes to two."
)
FARES_MAYOR_AGAIN = (
    'Mayor Ortiz told reporters: "We will not raise fares this year." The budget passed on Tuesday.'
)
