"""The assigner's cheap evidence (workers.assign.evidence), the prose check
(workers.extract_quality) and the shipped join model's file: pure functions on texts written here."""

from __future__ import annotations

from workers.assign.evidence import (
    MAX_STORY_TERMS,
    DocFreq,
    StoryProfile,
    add_article,
    article_terms,
    coverage,
    proper_names,
    term_weights,
)
from workers.assign.join_model import FEATURES, MODEL_PATH, JoinModel, load_join_model
from workers.extract import extract
from workers.extract_quality import not_an_article

LAUNCH = (
    "North Korea fires missile into sea, Japan says",
    "North Korea fired a ballistic missile from near Pyongyang on Tuesday, the Japanese defence "
    "ministry said. The missile flew about 1,200 kilometres before landing in the Sea of Japan.",
)
# The day after: a follow-up angle of the same launch (the engine, the leader watching).
FOLLOW_UP = (
    "Kim watched missile launch, state media says",
    "Kim Jong Un watched the launch from near Pyongyang, the KCNA agency reported on Wednesday. "
    "Analysts said the missile, which flew 1200 km into the Sea of Japan, used a new engine.",
)
# Days later, same subject, a different event: a call for talks.
TALKS = (
    "Seoul proposes talks with the North",
    "South Korea's unification ministry proposed military talks at the border village of "
    "Panmunjom next week, the first offer since President Moon took office.",
)


def test_names_numbers_and_title_case() -> None:
    terms = article_terms(*LAUNCH)
    assert {"pyongyang", "japan", "korea"} <= terms.names
    assert "1200" in terms.numbers  # "1,200" and "1200" are one number
    assert "says" not in terms.words and "say" in terms.words  # plural folded
    # A title-cased headline's capitals mark words, not names: none of them is a name.
    headline_only = article_terms("Fed Official Says Weak Data Caused By Weather", "")
    assert headline_only.names == frozenset()
    assert {"fed", "weather"} <= headline_only.words


def test_proper_names_leave_out_words_capitalised_only_to_open_a_sentence() -> None:
    title = "Strong earthquake shakes northern Japan"
    lead = (
        "Residents of Hakodate were woken by the quake. Hakodate's mayor said schools would close. "
        "Officials in Tokyo said the Tomari plant was safe."
    )
    found = proper_names(title, lead)
    # "Strong", "Residents", "Officials" only open a sentence; "Hakodate" opens one but is also
    # capitalised inside one, so it is a name wherever it stands.
    assert found == {"japan", "hakodate", "tokyo", "tomari"}
    assert found < article_terms(title, lead).names  # the looser rule keeps the openers


def test_follow_up_shares_more_evidence_than_a_same_subject_event() -> None:
    story = add_article(StoryProfile(), article_terms(*LAUNCH))
    df = DocFreq(100, {"korea": 30, "north": 40, "missile": 10})  # common words weigh less
    follow, talks = article_terms(*FOLLOW_UP), article_terms(*TALKS)
    lex_follow, _ = coverage(term_weights(follow.words, df, 15), story.words, story.size)
    lex_talks, _ = coverage(term_weights(talks.words, df, 15), story.words, story.size)
    assert lex_follow > lex_talks
    names_follow, _ = coverage(term_weights(follow.names, df), story.names, story.size)
    names_talks, has = coverage(term_weights(talks.names, df), story.names, story.size)
    assert has and names_follow > names_talks
    assert follow.numbers & set(story.numbers) and not talks.numbers & set(story.numbers)


def test_profile_caps_and_round_trips() -> None:
    profile = StoryProfile()
    for i in range(30):
        words = " ".join(f"word{i}x{j}" for j in range(30))
        profile = add_article(profile, article_terms("", f"Common shared text {words}."))
    assert profile.size == 30
    assert len(profile.words) == MAX_STORY_TERMS
    assert profile.words["common"] == 30  # the recurring words are the ones kept
    assert StoryProfile.from_json(profile.to_json()) == profile


def test_index_page_fails_with_reason() -> None:
    front = "World news – The Daily Example\n" + "\n".join(
        f"{h}\nPublished 2 hours ago" for h in (
            "Floods close schools across the north", "Minister resigns over expenses row",
            "Rail strike called off after late talks", "Wildfire forces thousands to flee",
            "Central bank holds rates for third month", "Storm warning issued for the coast",
        )
    )
    reason = not_an_article(extract(text=front))
    assert reason is not None and "index or navigation page" in reason


def test_paywall_stub_and_section_front_fail() -> None:
    stub = (
        "Council approves new budget\nThe council approved its budget on Monday night after a"
        " long debate.\nSubscribe to continue reading. Already a subscriber? Sign in here."
    )
    reason = not_an_article(extract(text=stub))
    assert reason is not None and "paywall" in reason
    section = extract(text="Latest news | Example Times\nThe latest headlines from around the "
                      "world are collected on this page every hour.")
    reason = not_an_article(section)
    assert reason is not None and "section front" in reason


def test_articles_and_bare_headlines_pass() -> None:
    assert not_an_article(extract(text="\n".join(LAUNCH))) is None
    assert not_an_article(extract(text="Fed official says weak data caused by weather")) is None
    report = "\n".join([LAUNCH[0], "Analysis", LAUNCH[1], "Reaction", FOLLOW_UP[1], TALKS[1]])
    assert not_an_article(extract(text=report)) is None  # two subheads are not an index


def test_shipped_join_model_file() -> None:
    model = load_join_model()
    header = model.header
    assert header["script"] == "benchmarks/train_assign.py"
    assert header["data"] and header["date"]
    assert len(model.coef) == len(FEATURES) and 0 < model.threshold < 1
    assert JoinModel.from_json(model.to_json()).threshold == model.threshold
    assert MODEL_PATH.name == "join_model.json"
