import random

import pytest

from assistant.indexing.chunking import chunk_document, embedding_text
from assistant.indexing.files import paragraph_spans, read_document
from assistant.schema import Document
from assistant.settings import ChunkerSettings

from .conftest import ARTICLE


def make_document(text: str, title: str = "Synthetic") -> Document:
    return Document("doc", title, "doc.txt", text, "0", tuple(paragraph_spans(text, False)))


def long_document() -> Document:
    words = ARTICLE.read_text(encoding="utf-8").split()
    rng = random.Random(7)
    rambling = " ".join(rng.choice(words) for _ in range(1500))  # one paragraph, few full stops
    sentences = " ".join(f"Sentence number {i} says something short." for i in range(120))
    unbroken = "x" * 2500  # a single "word" longer than the window
    return make_document(
        f"Title line\n\n{rambling}\n\n{sentences}\n\n{unbroken}\n\nTiny.\n\nLast words here."
    )


@pytest.fixture(scope="module", params=["article", "long"])
def chunked(request, embedder):
    doc = read_document(ARTICLE, "article") if request.param == "article" else long_document()
    settings = ChunkerSettings(window=embedder.window)
    return doc, chunk_document(doc, embedder.count_tokens, settings), settings


def test_offsets_reproduce_chunk_text(chunked):
    doc, chunks, _ = chunked
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()


def test_chunks_cover_every_paragraph_in_order(chunked):
    doc, chunks, _ = chunked
    covered = [n for c in chunks for n in c.paragraphs]
    assert sorted(set(covered)) == list(range(1, len(doc.paragraphs) + 1))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    for number, (start, end) in enumerate(doc.paragraphs, 1):
        inside = [c for c in chunks if number in c.paragraphs]
        # every non-space character of the paragraph is inside one of its chunks
        for i in range(start, end):
            if not doc.text[i].isspace():
                assert any(c.start <= i < c.end for c in inside), (number, i)


def test_no_chunk_exceeds_the_model_window(chunked, embedder):
    doc, chunks, settings = chunked
    for chunk in chunks:
        seen = embedder.count_tokens(embedding_text(doc.title, chunk.text, settings))
        assert seen == chunk.n_tokens <= embedder.window


def test_long_paragraphs_are_split_not_truncated(embedder):
    doc = long_document()
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerSettings(window=embedder.window))
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks).replace(" ", "").replace("\n", "") == doc.text.replace(
        " ", ""
    ).replace("\n", "")
    sentence_chunks = [c for c in chunks if "Sentence number" in c.text]
    assert all(c.text.endswith(".") for c in sentence_chunks)  # cut between sentences


def test_short_paragraphs_join_the_next_one(embedder):
    doc = read_document(ARTICLE, "article")
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerSettings(window=embedder.window))
    assert chunks[0].paragraphs == (1, 2)  # the title joins the photo caption
    assert all(len(c.paragraphs) == 1 for c in chunks[1:])
