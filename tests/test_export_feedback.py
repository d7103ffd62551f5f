"""Citations people reuse (copy text, Markdown export) and the feedback file."""

import json
import threading

import pytest

from assistant import feedback
from assistant.answer.citations import citation_text, locator
from assistant.errors import AssistantError, InvalidArgumentError
from assistant.export import conversation_markdown, quote_with_citation

from .conftest import run_cli

QUESTION = "How many deaths is the PKK responsible for?"


def passage(**source) -> dict:
    text = "The PKK is listed as a terrorist group.\nIt is responsible for 40,000 deaths."
    start = text.index("It is")
    return {
        "rank": 1,
        "score": 1.1,
        "dense": 0.7,
        "lexical": 0.33,
        "text": text,
        "source": {
            "doc_id": "news.html",
            "title": "Talks resume",
            "path": "docs/news.html",
            "paragraphs": [7, 8],
            "start": 100,
            "end": 100 + len(text),
            "pages": [],
            "section": "",
            "metadata": {},
            **source,
        },
        "highlight": {"start": start, "end": len(text), "text": text[start:]},
    }


def answer(state="answered", passages=None) -> dict:
    return {
        "question": QUESTION,
        "answerable": state != "not_found",
        "state": state,
        "confidence": {"answered": 0.93, "weak": 0.45, "not_found": 0.05}[state],
        "retriever": "hybrid",
        "searched": QUESTION,
        "settings": {
            "k": 3,
            "retriever": "hybrid",
            "answerable_at": 0.3333,
            "weak_below": 0.6,
            "documents": [],
            "index": "default",
        },
        "passages": [] if state == "not_found" else (passages or [passage()]),
    }


def test_citation_names_title_paragraphs_span_and_path():
    assert citation_text(passage()["source"]) == (
        "Talks resume, ¶7–8, chars 100–176, docs/news.html"
    )


def test_citation_adds_metadata_and_pages_when_the_document_has_them():
    source = passage(
        pages=[3, 4],
        paragraphs=[12],
        metadata={"author": "A. Writer", "outlet": "Daily Sabah", "date": "2024-05-01", "x": "y"},
    )["source"]
    assert citation_text(source) == (
        "Talks resume — A. Writer, Daily Sabah, 2024-05-01, pp. 3–4, ¶12, chars 100–176, "
        "docs/news.html"
    )
    assert locator({"pages": [5], "paragraphs": [2]}) == "p. 5, ¶2"
    assert citation_text(dict(source, section="Background")).startswith(
        "Talks resume — A. Writer, Daily Sabah, 2024-05-01, pp. 3–4, § Background, ¶12"
    )
    # the Python form of metadata (pairs) reads the same as the JSON form (a dict)
    pairs = dict(source, metadata=(("date", "2024-05-01"), ("author", "A. Writer")))
    assert citation_text(pairs).startswith("Talks resume — A. Writer, 2024-05-01, pp. 3–4")


def test_copy_text_is_the_verbatim_quote_then_its_citation():
    p = passage()
    copied = quote_with_citation(p)
    quote, citation = copied.split("\n— ")
    assert quote == f"“{p['text']}”"
    assert citation == citation_text(p["source"])


def test_markdown_export_quotes_and_cites_every_passage_of_every_answer():
    second = passage(doc_id="b.txt", title="Other", path="b.txt", paragraphs=[2])
    second["rank"] = 2
    turns = [
        answer("answered", [passage(), second]),
        answer("weak"),
        answer("not_found"),
        {"question": "   ", "error": "The question is empty."},
    ]
    md = conversation_markdown(turns, exported_at=0)
    assert md.startswith("# Conversation with the Citation Assistant\n")
    assert "Exported 1970-01-01 00:00 UTC" in md
    assert md.count(f"## 1. {QUESTION}") == 1 and "## 4." in md
    assert "1. Talks resume, ¶7–8, chars 100–176, docs/news.html" in md
    assert "2. Other, ¶2, chars 100–176, b.txt" in md
    # the quote is verbatim, line by line, with the highlighted sentence in bold
    quote = "> The PKK is listed as a terrorist group.\n> **It is responsible for 40,000 deaths.**"
    assert quote in md
    assert "**Weak match** (confidence 0.45)" in md and "⚠ Weak match" in md
    not_found = md.split("## 3.")[1].split("## 4.")[0]
    assert "Not in the documents" in not_found and ">" not in not_found.split("\n", 3)[3]
    assert "_Error: The question is empty._" in md
    assert "settings: 3 passages, hybrid, answerable from 0.33, index default" in md


def test_markdown_export_of_an_empty_conversation():
    assert "_No questions asked yet._" in conversation_markdown([])


def test_votes_append_to_a_file_beside_the_index_folder(assistant, tmp_path):
    answer_ = assistant.ask(QUESTION).to_dict()
    vote = feedback.make_vote(assistant.index, answer_, 1, 1, now=0)
    path = feedback.append_vote(assistant.index.path, vote)
    assert path == assistant.index.path.parent / f"{assistant.index.path.name}.feedback.jsonl"
    assert path.parent == assistant.index.path.parent  # beside it, not inside it
    record = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    top = answer_["passages"][0]["source"]
    assert record["question"] == QUESTION and record["vote"] == 1
    assert record["time"] == "1970-01-01T00:00:00Z"
    assert (record["doc_id"], record["start"], record["end"]) == (
        top["doc_id"],
        top["start"],
        top["end"],
    )
    chunk = assistant.index.chunks[record["chunk_id"]]
    assert (chunk.doc_id, chunk.start) == (top["doc_id"], top["start"])
    assert record["index_created_at"] == assistant.index.manifest["created_at"]
    path.unlink()


def test_votes_are_checked_and_concurrent_votes_do_not_interleave(assistant, tmp_path):
    answer_ = assistant.ask(QUESTION).to_dict()
    with pytest.raises(InvalidArgumentError, match="vote must be 1"):
        feedback.make_vote(assistant.index, answer_, 1, 5)
    with pytest.raises(InvalidArgumentError, match="no passage 9"):
        feedback.make_vote(assistant.index, answer_, 9, 1)
    moved = json.loads(json.dumps(answer_))
    moved["passages"][0]["source"]["end"] = 10**9
    with pytest.raises(InvalidArgumentError, match="not in the index"):
        feedback.make_vote(assistant.index, moved, 1, 1)

    index_dir = tmp_path / "idx"
    vote = feedback.make_vote(assistant.index, answer_, 1, -1)
    threads = [
        threading.Thread(target=lambda: [feedback.append_vote(index_dir, vote) for _ in range(50)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    feedback.feedback_path(index_dir).open("a").write("{not json\n")  # a damaged line
    votes = feedback.read_votes(index_dir)
    assert len(votes) == 200 and all(v == vote for v in votes)


def test_votes_make_a_beir_set_of_helpful_passages(assistant, tmp_path):
    a = assistant.ask(QUESTION).to_dict()
    b = assistant.ask("Which operations has Ankara launched in northern Syria?").to_dict()
    votes = [
        feedback.make_vote(assistant.index, a, 1, 1),
        feedback.make_vote(assistant.index, a, 2, 1),
        feedback.make_vote(assistant.index, a, 3, -1),
        feedback.make_vote(assistant.index, b, 1, 1),
        feedback.make_vote(assistant.index, b, 1, -1),  # changed their mind: net 0
    ]
    data = feedback.feedback_set(votes)
    assert list(data.queries.values()) == [QUESTION]
    assert data.votes == 5
    (qrels,) = data.qrels.values()
    spans = [
        (p["source"]["doc_id"], p["source"]["start"], p["source"]["end"]) for p in a["passages"]
    ]
    assert set(qrels) == set(spans[:2])

    from assistant.eval import load_dataset

    folder = feedback.write_beir(tmp_path / "set", assistant.index, data)
    loaded = load_dataset(folder)
    assert list(loaded.queries.values()) == [QUESTION]
    (relevant,) = loaded.qrels.values()
    assert set(relevant) == {feedback.passage_id(s) for s in spans[:2]}
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    assert len(corpus) == len(assistant.index.chunks)
    assert {c["_id"] for c in corpus} >= set(relevant)


@pytest.mark.slow
def test_eval_feedback_turns_votes_into_metrics(tmp_path, article_index, assistant):
    import shutil

    index_dir = tmp_path / "copy"
    shutil.copytree(article_index, index_dir)
    cli = run_cli("eval", "--feedback", "--index", str(index_dir))
    assert cli.returncode == 1 and "No helpful votes" in cli.stderr
    answer_ = assistant.ask(QUESTION).to_dict()
    feedback.append_vote(index_dir, feedback.make_vote(assistant.index, answer_, 1, 1))
    cli = run_cli(
        "eval", "--feedback", "--index", str(index_dir), "--json", "--write", str(tmp_path / "b")
    )
    assert cli.returncode == 0, cli.stderr
    result = json.loads(cli.stdout)
    assert result["queries"] == 1 and result["recall@10"] == 1.0 and result["mrr@10"] == 1.0
    assert (tmp_path / "b" / "qrels" / "test.tsv").is_file()


def test_evaluate_feedback_refuses_without_votes(assistant, monkeypatch, tmp_path):
    monkeypatch.setattr(feedback, "feedback_path", lambda _: tmp_path / "none.jsonl")
    with pytest.raises(AssistantError, match="No helpful votes"):
        feedback.evaluate_feedback(assistant)


def test_a_highlight_over_several_lines_is_bold_line_by_line():
    p = passage()
    p["text"] = "Title line\nSecond line (photo)"
    p["highlight"] = {"start": 0, "end": 16, "text": "Title line\nSecon"}
    md = conversation_markdown([answer("answered", [p])], exported_at=0)
    assert "> **Title line**\n> **Secon**d line (photo)" in md
    assert "bold.\n\n## 1." in md
