"""The extract stage: what a reader would count as the article's reporting, and nothing else."""

from __future__ import annotations

from pathlib import Path

from workers.extract import Extracted, extract

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed_text(n: int) -> str:
    return next(SEEDS.glob(f"{n:03d}_*.txt")).read_text(encoding="utf-8")


def joined(extracted: Extracted) -> str:
    return "\n".join(extracted.sentences)


def test_photo_captions_and_credits_are_dropped() -> None:
    text = joined(extract(text=seed_text(0)))
    assert "REUTERS" not in text and "ATTENTION EDITORS" not in text
    assert "FILE PHOTO" not in text and "File Photo" not in text
    assert "takes part in a ceremony opening youth centres" not in text  # the caption's own words
    assert "Putin also emphasized Russia’s stance" in text  # the reporting around it stays
    assert "AFP" not in joined(extract(text=seed_text(1)))
    assert "Collected photo" not in joined(extract(text=seed_text(3)))


def test_read_more_links_lone_dashes_and_subheads_are_dropped() -> None:
    extracted = extract(text=seed_text(1))
    text = joined(extracted)
    assert "Read more" not in text and "regime change in Iran" not in text
    assert "-" not in extracted.sentences
    for subhead in [
        "Ukraine crisis dominates second half of talks",
        "Macron urges Ukraine ceasefire, vows continued dialogue",
        "Putin, Macron discuss Israeli war, US strikes on Iran",
    ]:
        assert all(subhead not in s for s in extracted.sentences)
    assert "Which Urgent Call to Answer First" not in joined(extract(text=seed_text(0)))


def test_first_line_that_reads_like_a_headline_is_the_title() -> None:
    with_headline = extract(text=seed_text(1))
    assert (
        with_headline.title == "Putin, Macron discuss Iran, Ukraine crisis in first call since 2022"
    )
    assert with_headline.title not in with_headline.sentences
    assert extract(text=seed_text(0)).title is None  # it opens with a sentence, not a headline
    assert extract(text=seed_text(0), title="Given").title == "Given"


def test_a_date_stamp_is_not_a_headline() -> None:
    body = (
        "Fire destroys harbour warehouse in Tolvik\n"
        "A fire destroyed a grain warehouse on the Tolvik harbour front early on Sunday, the fire "
        "service said.\nNobody was hurt, but the quay was closed for the day."
    )
    # A page's stamp posted as the title: the text's own headline line is taken instead.
    for stamp in (
        "18 September 2013 Last updated at 13:59 GMT",
        "Posted September 26, 2013-3: 47pm Updated September 27, 2013-6: 56am",
        "11 / 28 / 05",
        "TOLVIK, July 2, 2013",
    ):
        assert extract(text=body, title=stamp).title == "Fire destroys harbour warehouse in Tolvik"
    # A stamp as the text's first line is no title either; the body still starts after it.
    stamped = extract(text="Sunday, March 17, 2013 | 5:00 PM\n" + body.split("\n", 1)[1])
    assert stamped.title is None
    assert stamped.sentences[0].startswith("A fire destroyed a grain warehouse")
    # Headlines that carry a date or a number stay.
    for headline in (
        "Colts clinch playoff berth with 20-13 win over Chiefs",
        "Apple event: September 9",
        "MARKETS RALLY ON MONDAY",
        "COVID-19 update",
    ):
        assert extract(text=body, title=headline).title == headline


def test_stray_space_before_punctuation_is_closed() -> None:
    text = joined(extract(text=seed_text(3)))
    assert "tensions ." not in text and " ," not in text
    assert "Iranian nuclear tensions." in text


def test_abbreviations_and_quotes_do_not_split_sentences() -> None:
    extracted = extract(
        text=(
            "The strike came hours after a call between Putin and U.S. President Donald Trump. "
            'Mr. Smith said "we will respond in kind." He did not elaborate.'
        )
    )
    assert extracted.sentences == [
        "The strike came hours after a call between Putin and U.S. President Donald Trump.",
        'Mr. Smith said "we will respond in kind."',
        "He did not elaborate.",
    ]


def test_bylines_datelines_and_share_prompts_are_dropped() -> None:
    extracted = extract(
        text=(
            "By Jane Doe\n"
            "PARIS, July 1 (Reuters) - Macron spoke with Putin for two hours on Tuesday.\n"
            "Share this article\n"
            "We use cookies to improve your experience.\n"
            "The call was the first since 2022.\n"
        )
    )
    assert extracted.sentences == [
        "Macron spoke with Putin for two hours on Tuesday.",
        "The call was the first since 2022.",
    ]


def test_html_body_and_title_come_through_trafilatura() -> None:
    paragraphs = "".join(
        f"<p>{p}</p>"
        for p in [
            "The city council approved a $4.5 million budget for the new transit line on Monday, "
            "after a debate that lasted more than two hours.",
            "Council members voted seven to two in favour of the plan, which adds 12 electric "
            "buses to the fleet by the end of next year.",
            "Mayor Lena Ortiz said the line would open in the spring and cut commute times for "
            "thousands of residents in the eastern districts.",
            "Read more: How the city pays for public transport",
        ]
    )
    html = (
        "<html><head><title>Council approves transit budget | City Paper</title>"
        '<meta property="og:title" content="Council approves $4.5m transit budget"></head>'
        "<body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>Council approves $4.5m transit budget</h1>{paragraphs}"
        "<figure><img src='bus.jpg'><figcaption>A new electric bus. Photo: City Paper"
        "</figcaption></figure></article>"
        "<footer>We use cookies. Accept all cookies</footer></body></html>"
    )
    extracted = extract(html=html)
    assert extracted.title is not None and "transit budget" in extracted.title
    text = joined(extracted)
    assert "$4.5 million budget" in text and "Mayor Lena Ortiz said" in text
    for chrome in ["Read more", "Photo:", "cookies", "Home"]:
        assert chrome not in text
    assert all(s.endswith((".", '"', "”")) for s in extracted.sentences)


def test_no_input_gives_nothing() -> None:
    assert extract() == Extracted(title=None, sentences=[])


def test_sentence_splitting_matches_pysbd_on_hard_lines() -> None:
    """The fast path and the span mapping give pysbd's own sentences, abbreviations and all."""
    from workers.extract import _segmenter, _split_sentences

    lines = [
        "(CNN) A small plane crashed on Sunday, officials said.",
        "Mr. Macron spoke to Mr. Putin at 3.30 p.m. on Tuesday. The call lasted two hours!",
        'He said: "We will not back down." Then he left; nobody followed.',
        "The U.S. and the U.K. agreed (in principle) to talk. Talks start Jan. 5 in St. Louis.",
        "no punctuation at all in this lower-case line",
        "Prices rose 2.5% in May... Analysts had expected 2%.",
        "A sentence. A sentence. A sentence.",
    ]
    for line in lines:
        expected = [s.strip() for s in _segmenter().segment(line)]
        assert [s.strip() for s in _split_sentences(line)] == expected, line
    assert len(_split_sentences(lines[1])) == 2  # "Mr." and "p.m." do not end a sentence


def test_a_very_long_single_line_is_split_into_the_same_sentences() -> None:
    """A whole article on one line (flattened feed text) is cut into pieces where sentences
    plainly end before pysbd sees it (its cost grows with the square of a line's length: a 1 MB
    line took minutes). The pieces change no sentence, abbreviations included."""
    from workers.extract import _split_piece, _split_sentences

    paragraph = (
        "The council met on Monday in the town hall. Mr. Smith said the U.S. plan was late! "
        "Was it? \"Nobody knows,\" said Dr. Jones of St. Mary's. "
    )
    line = paragraph * 400  # ~48 kB
    assert len(line) > 10_000
    assert _split_sentences(line) == _split_piece(paragraph) * 400
    assert _split_sentences(paragraph) == _split_piece(paragraph)
    no_end = "word " * 10_000  # no sentence end at all: still split, nothing lost
    assert "".join(_split_sentences(no_end)) == no_end


def test_page_furniture_above_the_headline_is_no_headline() -> None:
    """Scraped text often opens with "Advertisement": it was taken as the title, and posts that
    held nothing but furniture joined a real story on that title."""
    real = extract(
        text="Advertisement\nPutin and Macron speak by phone\n"
        "The two leaders spoke for two hours on Tuesday, the Kremlin said."
    )
    assert real.title == "Putin and Macron speak by phone"
    assert real.sentences == ["The two leaders spoke for two hours on Tuesday, the Kremlin said."]
    junk = extract(text="Advertisement\nShare this article\nSubscribe")
    assert junk.title is None and junk.sentences == []
