"""Sentence-aware, paragraph-respecting chunks that fit the model's window, with exact offsets.

A paragraph that fits the window is one chunk. A longer one is cut between sentences (between
words only for a sentence longer than the window), so nothing is ever truncated. A paragraph
shorter than `min_tokens` (a heading, a one-liner) joins the paragraph after it, and so does the
title paragraph of any length when every chunk is prefixed with the title anyway.

A code block (`Document.code`) is a chunk of its own, kind "code", never joined to prose; one
longer than the window is cut between lines. A short lead-in just before a code block ("For
example:") joins the prose chunk before it instead.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from ..schema import Chunk, Document
from ..sentences import sentence_spans, strip_span
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

    code = code_paragraphs(doc)
    pieces: list[tuple[int, int, int]] = []  # (start, end, paragraph number)
    for number, (start, end) in enumerate(doc.paragraphs, 1):
        if fits(start, end):
            spans = [(start, end)]
        elif number in code:
            spans = _pack_lines(doc.text, start, end, fits)
        else:
            spans = _pack(doc.text, start, end, fits)
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

    groups: list[tuple[int, int, list[int]]] = []  # (start, end, paragraph numbers)
    i = 0
    while i < len(pieces):
        start, end, number = pieces[i]
        numbers = [number]
        i += 1
        while (
            i < len(pieces)
            and number not in code  # a code block is a chunk of its own
            and pieces[i][2] not in code
            and pieces[i][2] != numbers[-1]  # only whole short paragraphs are merged
            and page_of(doc, start) == page_of(doc, pieces[i][0])  # a citation names one page
            and not (pieces[i][0] in section_starts and not headings_only(numbers))
            and (tokens(start, end) < settings.min_tokens or is_title(numbers, start, end))
            and fits(start, pieces[i][1])
        ):
            end = pieces[i][1]
            numbers.append(pieces[i][2])
            i += 1
        if (
            groups
            and _joins_back(doc, code, section_starts, groups[-1], start, numbers)
            and tokens(start, end) < settings.min_tokens
            and fits(groups[-1][0], end)
        ):
            # a short lead-in to a code block ("For example:") ends the prose before it
            groups[-1] = (groups[-1][0], end, groups[-1][2] + numbers)
            continue
        groups.append((start, end, numbers))
    return [
        Chunk(
            chunk_id=first_id + n,
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
            kind="code" if numbers[0] in code else "text",
        )
        for n, (start, end, numbers) in enumerate(groups)
    ]


def _joins_back(
    doc: Document,
    code: set[int],
    section_starts: set[int],
    previous: tuple[int, int, list[int]],
    start: int,
    numbers: list[int],
) -> bool:
    """Whether prose just before a code block may join the prose chunk before it: same page,
    same section, whole paragraphs, and the next paragraph is code."""
    after = numbers[-1] + 1
    return (
        numbers[0] not in code
        and previous[2][0] not in code
        and previous[2][-1] != numbers[0]
        and after in code
        and start not in section_starts
        and page_of(doc, previous[0]) == page_of(doc, start)
    )


def code_paragraphs(doc: Document) -> set[int]:
    """1-based numbers of the paragraphs that are code blocks (or lie inside one)."""
    if not doc.code:
        return set()
    spans = sorted(doc.code)
    starts = [s for s, _ in spans]
    found = set()
    for number, (start, end) in enumerate(doc.paragraphs, 1):
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and spans[i][0] <= start and end <= spans[i][1]:
            found.add(number)
    return found


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


def _pack_lines(
    text: str, start: int, end: int, fits: Callable[[int, int], bool]
) -> list[tuple[int, int]]:
    """A code block too long for the window, cut between lines (a line too long, between
    words): whole lines, greedily grouped."""
    units: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        s, e = strip_span(text, start + line.start(), start + line.end())
        if e == s:
            continue
        units.extend([(s, e)] if fits(s, e) else _pack_words(text, s, e, fits))
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
