"""Sentence-aware, paragraph-respecting chunks that fit the model's window, with exact offsets.

A paragraph that fits the window is one chunk. A longer one is cut between sentences (between
words only for a sentence longer than the window), so nothing is ever truncated. A paragraph
shorter than `min_tokens` (a heading, a one-liner) joins the paragraph after it, and so does the
title paragraph of any length when every chunk is prefixed with the title anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..schema import Chunk, Document
from ..sentences import sentence_spans
from ..settings import ChunkerSettings

CountTokens = Callable[[str], int]


def embedding_text(title: str, text: str, settings: ChunkerSettings) -> str:
    """What the model encodes for a chunk: its text, led by the document title for context."""
    if settings.title_prefix and title and not text.startswith(title):
        return f"{title[:200]}: {text}"
    return text


def chunk_document(
    doc: Document, count_tokens: CountTokens, settings: ChunkerSettings, first_id: int = 0
) -> list[Chunk]:
    def tokens(start: int, end: int) -> int:
        return count_tokens(embedding_text(doc.title, doc.text[start:end], settings))

    def fits(start: int, end: int) -> bool:
        return tokens(start, end) <= settings.window

    pieces: list[tuple[int, int, int]] = []  # (start, end, paragraph number)
    for number, (start, end) in enumerate(doc.paragraphs, 1):
        spans = [(start, end)] if fits(start, end) else _pack(doc.text, start, end, fits)
        pieces.extend((s, e, number) for s, e in spans)

    def is_title(numbers: list[int], start: int, end: int) -> bool:
        return (
            settings.title_prefix
            and bool(doc.title)
            and numbers == [1]
            and doc.title in doc.text[start:end]
        )

    section_starts = {s for s, _ in doc.sections}

    def headings_only(numbers: list[int]) -> bool:
        """The chunk so far is headings (and the title): it may join the next section."""
        return all(
            doc.paragraphs[n - 1][0] in section_starts or (n == 1 and bool(doc.title))
            for n in numbers
        )

    chunks: list[Chunk] = []
    i = 0
    while i < len(pieces):
        start, end, number = pieces[i]
        numbers = [number]
        i += 1
        while (
            i < len(pieces)
            and pieces[i][2] != numbers[-1]  # only whole short paragraphs are merged
            and page_of(doc, start) == page_of(doc, pieces[i][0])  # a citation names one page
            and not (pieces[i][0] in section_starts and not headings_only(numbers))
            and (tokens(start, end) < settings.min_tokens or is_title(numbers, start, end))
            and fits(start, pieces[i][1])
        ):
            end = pieces[i][1]
            numbers.append(pieces[i][2])
            i += 1
        chunks.append(
            Chunk(
                chunk_id=first_id + len(chunks),
                doc_id=doc.doc_id,
                title=doc.title,
                path=doc.path,
                text=doc.text[start:end],
                start=start,
                end=end,
                paragraphs=tuple(numbers),
                n_tokens=tokens(start, end),
                pages=pages_of(doc, start, end),
                section=section_of(doc, max(start, end - 1)),
            )
        )
    return chunks


def pages_of(doc: Document, start: int, end: int) -> tuple[int, ...]:
    """1-based numbers of the pages the span [start, end) overlaps (paged formats only)."""
    return tuple(number for number, (s, e) in enumerate(doc.pages, 1) if s < end and start < e)


def page_of(doc: Document, offset: int) -> int:
    """The 1-based page holding `offset` (0 for documents without pages)."""
    for number, (s, e) in enumerate(doc.pages, 1):
        if s < e and offset < e:  # blank pages hold no text
            return number
    return len(doc.pages)


def section_of(doc: Document, start: int) -> str:
    """The heading of the section that `start` falls in, if any (a chunk passes its last
    character: chunks do not cross sections, but may begin with the headings above them)."""
    heading = ""
    for s, title in doc.sections:
        if s > start:
            break
        heading = title
    return heading


def _pack(
    text: str, start: int, end: int, fits: Callable[[int, int], bool]
) -> list[tuple[int, int]]:
    """Greedily groups sentences (or, for an overlong sentence, words) into spans that fit."""
    units: list[tuple[int, int]] = []
    for s, e in sentence_spans(text, start, end):
        if fits(s, e):
            units.append((s, e))
        else:
            units.extend(_pack_words(text, s, e, fits))
    spans: list[tuple[int, int]] = []
    for s, e in units:
        if spans and fits(spans[-1][0], e):
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
    return spans


def _pack_words(
    text: str, start: int, end: int, fits: Callable[[int, int], bool]
) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for word in re.finditer(r"\S+", text[start:end]):
        s, e = start + word.start(), start + word.end()
        if spans and fits(spans[-1][0], e):
            spans[-1] = (spans[-1][0], e)
        elif fits(s, e):
            spans.append((s, e))
        else:  # a single "word" longer than the window: cut it by characters
            spans.extend(_pack_chars(s, e, fits))
    return spans


def _pack_chars(start: int, end: int, fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    spans = []
    while start < end:
        lo, hi = start + 1, end
        while lo < hi:  # longest prefix that fits
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(start, mid) else (lo, mid - 1)
        spans.append((start, lo))
        start = lo
    return spans
