"""Where a passage comes from, and which of its sentences best answers the question."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .schema import Chunk, Highlight, Source, display_title
from .sentences import sentence_spans
from .words import STOPWORDS

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def source_for(chunk: Chunk, metadata: tuple[tuple[str, str], ...] = ()) -> Source:
    return Source(
        doc_id=chunk.doc_id,
        title=display_title(chunk.title, chunk.path, chunk.doc_id),
        path=chunk.path,
        paragraphs=chunk.paragraphs,
        start=chunk.start,
        end=chunk.end,
        pages=chunk.pages,
        section=chunk.section,
        metadata=metadata,
    )


def format_citation(source: Source) -> str:
    """'Title, p. 3, § Section, ¶7, chars 1,234–1,456': the one citation format every front end
    shows. The page (paged formats) and section (documents with headings) come when known."""
    parts = [source.title]
    if source.pages:
        first, last = source.pages[0], source.pages[-1]
        parts.append(f"p. {first}" if first == last else f"pp. {first}–{last}")
    if source.section and source.section != source.title:
        parts.append(f"§ {source.section}")
    if source.paragraphs:
        first, last = source.paragraphs[0], source.paragraphs[-1]
        parts.append(f"¶{first}" if first == last else f"¶{first}–{last}")
    parts.append(f"chars {source.start:,}–{source.end:,}")
    return ", ".join(parts)


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stopwords, crudely stemmed so 'deaths' meets 'death'."""
    return {_stem(w) for w in _WORD.findall(text.casefold()) if w not in STOPWORDS}


@lru_cache(maxsize=1 << 17)  # at most ~20 MB; words repeat, so this skips most of the work
def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def sentences_of(text: str) -> list[tuple[int, int]]:
    return sentence_spans(text) or [(0, len(text))]


def best_sentence(
    text: str,
    spans: list[tuple[int, int]],
    similarities: np.ndarray,
    question_words: set[str],
    overlap_weight: float,
    sentence_words: list[frozenset[str]] | None = None,
) -> Highlight:
    """The sentence with the highest model similarity plus a small word-overlap bonus.
    `sentence_words`: each span's `content_words`, when the caller keeps them."""
    if sentence_words is None:
        sentence_words = [content_words(text[s:e]) for s, e in spans]
    best, best_score = 0, -np.inf
    for i, words in enumerate(sentence_words):
        overlap = len(question_words & words) / max(1, len(question_words))
        score = float(similarities[i]) + overlap_weight * overlap
        if score > best_score:
            best, best_score = i, score
    s, e = spans[best]
    return Highlight(start=s, end=e, text=text[s:e])
