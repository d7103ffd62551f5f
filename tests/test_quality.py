"""Follow-up questions, retriever modes, diverse passages, model-chosen highlights."""

import dataclasses

import pytest

from assistant import Assistant, ingest
from assistant.answer.conversation import is_follow_up, search_text

from .conftest import ARTICLE

# (earlier question, follow-up, text of the passage that answers the follow-up)
FOLLOW_UPS = [
    (
        "What operations did Ankara launch in northern Syria?",
        "When was the last one?",
        "Peace Spring (2019)",
    ),
    ("Where is Syria's largest oil field?", "Who controls it?", "The YPG has grown stronger"),
]


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("When was that?", True),
        ("Who leads it?", True),
        ("And the PKK?", True),
        ("What about Syria?", True),
        ("What is it?", True),
        ("Who is the Turkish foreign minister?", False),
        ("How many deaths is the PKK responsible for?", False),
        ("Which operations has Ankara launched in northern Syria since 2016?", False),
    ],
)
def test_follow_up_detection(question, follow_up):
    assert is_follow_up(question) is follow_up


def test_search_text_draws_on_the_conversation():
    assert search_text("Who is Blinken?", ["What is the PKK?"]) == "Who is Blinken?"
    assert search_text("When was that?", []) == "When was that?"
    assert search_text("When was that?", ["What is X?"]) == "What is X? When was that?"
    # a follow-up of a follow-up keeps the question they both hang on
    assert (
        search_text("And why?", ["Old topic?", "What is X?", "Who runs it?"])
        == "What is X? Who runs it? And why?"
    )


@pytest.mark.parametrize(("earlier", "follow_up", "answer"), FOLLOW_UPS)
def test_follow_up_fails_alone_and_passes_in_context(assistant, earlier, follow_up, answer):
    alone = assistant.ask(follow_up, k=1)
    assert not (alone.answerable and answer in alone.passages[0].text)
    in_context = assistant.ask(follow_up, k=1, context=[earlier])
    assert in_context.answerable
    assert answer in in_context.passages[0].text
    assert in_context.searched == f"{earlier} {follow_up}"
    assert in_context.question == follow_up


def test_standalone_question_ignores_the_conversation(assistant):
    question = "How many deaths is the PKK responsible for?"
    plain = assistant.ask(question)
    after = assistant.ask(question, context=["What did they say about Gaza?"])
    assert after.searched == question
    assert [p.text for p in after.passages] == [p.text for p in plain.passages]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_every_retriever_answers_and_reports_itself(assistant, mode):
    answer = assistant.ask("How many deaths is the PKK responsible for?", retriever=mode)
    assert answer.retriever == mode and "40,000" in answer.passages[0].text
    key = {"hybrid": None, "dense": "dense", "bm25": "lexical"}[mode]
    if key:
        values = [getattr(p, key) for p in answer.passages]
        assert values == sorted(values, reverse=True)
        assert [p.score for p in answer.passages] == values


def test_retrievers_rank_differently(assistant):
    question = "Which terror corridor operations happened across the border?"
    rankings = {
        mode: [p.source.start for p in assistant.ask(question, k=5, retriever=mode).passages]
        for mode in ("hybrid", "dense", "bm25")
    }
    assert rankings["dense"] != rankings["bm25"]


def test_partly_on_topic_question_stays_answerable(assistant):
    answer = assistant.ask(
        "How many deaths is the PKK responsible for, and what's the weather in Paris tomorrow?"
    )
    assert answer.answerable and "40,000" in answer.passages[0].text


def test_near_copies_are_left_out(tmp_path, embedder):
    """A paragraph reworded by a few words in a second file is shown once, not twice."""
    original = ARTICLE.read_text(encoding="utf-8")
    paragraph = next(p for p in original.split("\n\n") if "40,000" in p)
    copy = paragraph.replace("is responsible for over", "has caused more than").replace(
        "almost four-decadelong", "nearly 40-year"
    )
    assert copy != paragraph
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "article.txt").write_text(original, encoding="utf-8")
    (tmp_path / "docs" / "wire-copy.txt").write_text(f"Wire copy\n\n{copy}\n", encoding="utf-8")
    ingest([tmp_path / "docs"], tmp_path / "index", embedder=embedder)
    diverse = Assistant.open(tmp_path / "index", embedder)
    question = "How many deaths is the PKK responsible for?"
    texts = [p.text for p in diverse.ask(question, k=3).passages]
    assert sum("40,000" in t for t in texts) == 1, texts
    # the filter is what keeps it out: without it, both copies are in the top 3
    diverse.retriever.settings = dataclasses.replace(diverse.retriever.settings, near_duplicate=1.1)
    texts = [p.text for p in diverse.ask(question, k=3).passages]
    assert sum("40,000" in t for t in texts) == 2, texts


def test_highlight_is_chosen_by_meaning_not_shared_words(tmp_path, embedder):
    doc = tmp_path / "notice.txt"
    doc.write_text(
        "Town notice\n\n"
        "The council met on Tuesday evening in the old town hall. "
        "Its chair said the bridge will reopen to traffic in early spring. "
        "Members also approved a new budget for the public library.\n",
        encoding="utf-8",
    )
    ingest([doc], tmp_path / "index", embedder=embedder)
    answer = Assistant.open(tmp_path / "index", embedder).ask(
        "When can cars cross the river again?"
    )
    assert answer.passages[0].highlight.text.startswith("Its chair said the bridge")
