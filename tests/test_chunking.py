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


def code_document(blocks: list[tuple[str, str]]) -> Document:
    """A document of ("text" | "code", block) pairs joined by blank lines, code spans marked."""
    text, code = "", []
    for kind, block in blocks:
        text += "\n\n" if text else ""
        if kind == "code":
            code.append((len(text), len(text) + len(block)))
        text += block
    paragraphs = paragraph_spans(text, False, [(s, e, s, e) for s, e in code])
    return Document("d", "Manual", "d.html", text, "0", tuple(paragraphs), code=tuple(code))


def test_code_blocks_are_chunks_of_their_own(fake_embedder):
    embedder = fake_embedder
    prose = "The buffer holds the decoded frames until the reader asks for them. " * 3
    short_code = "buf = bytearray(4096)"
    long_code = "\n".join(f"frame_{i} = decode(stream, size={i * 64})" for i in range(120))
    doc = code_document(
        [
            ("text", prose.strip()),
            ("text", "For example:"),
            ("code", short_code),
            ("text", "Then:"),
            ("code", long_code),
            ("text", prose.strip()),
        ]
    )
    settings = ChunkerSettings(window=embedder.window)
    chunks = chunk_document(doc, embedder.count_tokens, settings)
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.n_tokens <= embedder.window
    kinds = [c.kind for c in chunks]
    assert kinds[:4] == ["text", "code", "text", "code"] and kinds[-1] == "text"
    # the lead-in ends the prose chunk before the code; the code block is exactly one chunk
    assert chunks[0].text.endswith("For example:") and chunks[1].text == short_code
    assert chunks[2].text == "Then:"  # between two code blocks it stands alone
    long_pieces = [c for c in chunks if c.kind == "code"][1:]
    assert len(long_pieces) > 1 and "\n".join(c.text for c in long_pieces) == long_code
    assert all(c.paragraphs == (5,) for c in long_pieces)
    assert not any("frame_" in c.text for c in chunks if c.kind == "text")


def test_documents_without_code_chunk_as_before(chunked):
    doc, chunks, _ = chunked
    assert not doc.code and all(c.kind == "text" for c in chunks)
