"""Which sentence of a passage answers the question best: the one closest in meaning to the
question (from the sentence vectors stored at ingest, or encoded now), plus a small bonus for
the question's words it shares. `text[start:end]` of the highlight is always the sentence."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..indexing.chunking import embedding_text
from ..schema import Highlight
from ..sentences import sentences_of
from ..words import content_words

OVERLAP_WEIGHT = 0.1  # the share of the question's words a sentence holds, times this


@lru_cache(maxsize=10_000)  # passages come back question after question
def chunk_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """A passage's sentence spans (offsets in its text)."""
    return tuple(sentences_of(text))


@lru_cache(maxsize=10_000)
def chunk_sentence_words(text: str) -> tuple[frozenset[str], ...]:
    """The content words of each of a passage's sentences."""
    return tuple(frozenset(content_words(text[s:e])) for s, e in chunk_sentences(text))


def sentence_similarities(index, chunker, embedder, hits, spans, query: np.ndarray) -> list:
    """Cosine of the question with each sentence of each hit: from the index's sentence
    vectors (read in the passage's context at ingest), else by encoding the sentences now
    (each as `title: sentence`, so it is read in its document's context too)."""
    stored = index.sentences  # row i holds chunk i (chunk ids are rows)
    vectors = [
        stored.of_chunk(h.chunk.chunk_id, len(ss)) if stored else None
        for h, ss in zip(hits, spans, strict=True)
    ]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        texts = [
            embedding_text(hits[i].chunk.title, hits[i].chunk.text[s:e], chunker)
            for i in missing
            for s, e in spans[i]
        ]
        encoded, start = embedder.encode(texts), 0
        for i in missing:
            vectors[i] = encoded[start : start + len(spans[i])]
            start += len(spans[i])
    return [v @ query for v in vectors]


def best_sentence(
    text: str,
    spans: list[tuple[int, int]],
    similarities: np.ndarray,
    question_words: set[str],
    overlap_weight: float = OVERLAP_WEIGHT,
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
