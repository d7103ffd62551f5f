"""Answer presence: the question's focus, what a passage covers of it, and what the answer says."""

from __future__ import annotations

import json

import pytest

from assistant import Assistant
from assistant.answer.presence import (
    FEATURES,
    answer_kind,
    coverage,
    features,
    focus_terms,
    near_typo,
    probability,
    reason,
)
from assistant.settings import IndexSettings, RetrievalSettings, retrieval_settings
from assistant.web.chat_html import turn_html


def keys(question: str) -> list[str]:
    return [t.text for t in focus_terms(question)]


def test_focus_leaves_out_question_words_filler_and_answer_kind_words():
    assert keys("When did the meeting take place in Ankara?") == ["meeting", "Ankara"]
    assert keys("In which city did the diplomats meet?") == ["diplomats", "meet"]
    assert keys("What did Blinken say about Ukraine?") == ["Blinken", "Ukraine"]


def test_names_inside_the_question_are_proper_but_its_first_word_is_not():
    terms = {t.text: t.proper for t in focus_terms("Does NATO fund the YPG in Syria?")}
    assert terms == {"NATO": True, "fund": False, "YPG": True, "Syria": True}
    assert not focus_terms("Turkey relations")[0].proper


@pytest.mark.parametrize(
    "question, kind",
    [
        ("When was the ministry built?", "date"),
        ("What year did it start?", "date"),
        ("How many people died?", "number"),
        ("how long is the border", "number"),
        ("Who is the foreign minister?", "name"),
        ("Where did they meet?", "place"),
        ("Why did they meet?", ""),
    ],
)
def test_answer_kind_follows_the_question_word(question, kind):
    assert answer_kind(question) == kind


def test_typos_are_one_edit_on_words_of_five_letters_or_more():
    assert near_typo("erdogan", "erdgoan") is False  # a swap is two edits
    assert near_typo("counterterrorism", "counterterorism")
    assert near_typo("killed", "killd")
    assert not near_typo("cat", "car")  # too short to tell a typo from another word
    assert not near_typo("border", "borders" + "xx")


def idf_of(known: dict[str, float]):
    return lambda word: known.get(word)


def test_coverage_names_what_the_passage_holds_and_what_it_lacks():
    text = "Blinken met the Turkish foreign minister in Ankara on Monday."
    covered = coverage(
        focus_terms("What did Blinken say about Ukraine?"),
        "",
        text,
        [text],
        idf_of({"blinken": 2.0}),
        None,
    )
    assert covered.matched == ("Blinken",) and covered.missing == ("Ukraine",)
    assert covered.missing_proper == 1 and covered.missing_unknown == 1
    assert 0 < covered.share < 0.5  # the unknown term weighs more than the known one
    assert reason("weak", covered, False) == (
        "The documents mention Blinken, but nothing about Ukraine."
    )
    assert reason("answered", covered, False) == (
        "The passage covers Blinken; it does not mention Ukraine."
    )
    assert reason("not_found", None, True) == "Nothing in the documents is close to the question."


def test_an_answer_of_the_asked_kind_is_looked_for_in_the_best_sentences():
    text = "The talks were held in Ankara. They began on 12 May 2025."
    terms = focus_terms("When were the talks held?")
    with_date = coverage(terms, "date", text, ["They began on 12 May 2025."], idf_of({}), None)
    without = coverage(terms, "date", text, ["The talks were held in Ankara."], idf_of({}), None)
    assert with_date.kind_found and not without.kind_found
    assert reason("weak", without, False).endswith("states no date.")


def test_the_heading_counts_as_the_passages_own_words():
    terms = focus_terms("logging levels")
    text = "Levels are numbers; DEBUG is 10."
    plain = coverage(terms, "", text, [text], idf_of({}), None)
    headed = coverage(terms, "", text, [text], idf_of({}), None, heading="Logging HOWTO")
    assert plain.missing == ("logging",) and headed.missing == ()


def test_the_default_presence_model_rewards_coverage_and_penalises_missing_names():
    coefficients = RetrievalSettings().presence
    assert len(coefficients) == len(FEATURES) + 1
    text = "Blinken met the Turkish foreign minister in Ankara."
    full = coverage(focus_terms("Whom did Blinken meet?"), "name", text, [text], idf_of({}), None)
    part = coverage(
        focus_terms("What did Blinken say about Ukraine?"), "", text, [text], idf_of({}), None
    )
    assert probability(features(full, 0.9), coefficients) > probability(
        features(part, 0.9), coefficients
    )


def test_an_index_from_before_the_presence_model_takes_todays_cuts():
    old = {**RetrievalSettings().to_dict(), "answerable_at": 1 / 3, "weak_below": 0.7}
    del old["presence"]
    assert retrieval_settings(old) == RetrievalSettings()
    mine = {**RetrievalSettings().to_dict(), "weak_below": 0.5}
    assert retrieval_settings(json.loads(json.dumps(mine))).weak_below == 0.5


def test_settings_round_trip_through_the_manifest(fake_embedder):
    from assistant.settings import ModelSettings

    settings = IndexSettings(model=ModelSettings.of(fake_embedder))
    manifest = json.loads(json.dumps(settings.to_manifest()))
    assert IndexSettings.from_manifest(manifest) == settings


def test_answer_json_says_why_and_what_each_passage_covers(small_index, fake_embedder):
    answer = Assistant.open(small_index, fake_embedder).ask(
        "How many deaths is the PKK responsible for?", k=3
    )
    data = json.loads(answer.to_json())
    assert data["reason"] and 0 <= data["topic"] <= 1
    assert data["settings"]["less_related_below"] == RetrievalSettings().less_related_below
    for p in data["passages"]:
        assert set(p["coverage"]) == {"matched", "missing"}
        assert 0 <= p["presence"] <= 1 and isinstance(p["less_related"], bool)
        words = p["text"].casefold()
        assert all(
            w.casefold() in words or w.casefold()[:4] in words for w in p["coverage"]["matched"]
        )
    if data["passages"]:
        assert data["passages"][0]["less_related"] is False
        first = data["passages"][0]["score"]
        for p in data["passages"][1:]:
            assert p["less_related"] == (
                p["score"] < data["settings"]["less_related_below"] * first
            )


def test_the_chat_shows_the_reason_and_collapses_less_related_passages(small_index, fake_embedder):
    answer = Assistant.open(small_index, fake_embedder).ask("PKK deaths", k=3, answerable_at=0.0)
    data = json.loads(answer.to_json())
    assert len(data["passages"]) >= 2
    for p in data["passages"]:
        p["less_related"] = p is data["passages"][-1]
    html = turn_html(1, data)
    assert data["reason"].split(",")[0] in html
    assert '<details class="less-related"><summary>1 less related passage</summary>' in html
    assert "Of what the question asks about, it covers:" in html


def test_the_presence_question_sets_are_sound():
    """Every answer string is in its document, the halves are balanced (check_sets.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "data" / "presence" / "check_sets.py"
    spec = importlib.util.spec_from_file_location("check_sets", path)
    check_sets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_sets)
    assert check_sets.main([]) == 0


@pytest.mark.slow
def test_near_topic_questions_on_the_article_are_mostly_not_answered(assistant):
    """The article's presence set (both halves) with the real model: near-topic questions are
    answered less often than answerable ones (measured: 40/62 against 50/62, 3 refused),
    and the answer stays in the top 3 (57/62)."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / "presence" / "article" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    states = {"answerable": [], "near_topic": []}
    top3 = 0
    for row in rows:
        answer = assistant.ask(row["question"], k=3)
        states[row["kind"]].append(answer.state)
        if row["kind"] == "answerable":
            keys = [a.casefold() for a in row["answer"]]
            top3 += any(k in p.text.casefold() for p in answer.passages for k in keys)
    near, answerable = states["near_topic"], states["answerable"]
    assert near.count("answered") <= 0.75 * len(near), near
    assert answerable.count("not_found") <= 3 and answerable.count("answered") >= 0.75 * len(
        answerable
    ), answerable
    assert top3 >= 0.9 * len(answerable), top3
