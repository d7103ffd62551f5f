"""Search over the index: exact cosine top-k, one hit per distinct passage, and answerability."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from .schema import Chunk
from .store import Index


@dataclass(frozen=True)
class RetrievalSettings:
    """Stored in the index manifest, so every query uses the values the index was built with."""

    lexical_weight: float = 0.5  # score = cosine + lexical_weight * normalised BM25
    depth: int = 100  # candidates taken from each of the dense and lexical rankings
    # Answerable when best score - background_weight * (cosine to the closest generic
    # question) >= min_margin: the question is nearer the documents than everyday chatter.
    background_weight: float = 1.0
    min_margin: float = 0.0
    # Generic questions this close to some chunk are about the corpus: they are left out.
    background_max_corpus_similarity: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RetrievalSettings:
        return cls(**d)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # dense + lexical_weight * lexical
    dense: float
    lexical: float


def text_key(text: str) -> str:
    """Chunks with the same key say the same thing: one of them is enough in an answer."""
    return re.sub(r"\W+", " ", text).strip().casefold()


class Retriever:
    def __init__(self, index: Index) -> None:
        self.index = index
        self.settings = RetrievalSettings.from_dict(index.settings)
        keys = [text_key(c.text) for c in index.chunks]
        self._keys = keys
        self._repeats = len(keys) - len(set(keys))

    def search(self, question: str, query: np.ndarray, k: int) -> list[Hit]:
        """The k best distinct chunks, best first, by fused dense and lexical score."""
        total = self.index.vectors.ntotal
        depth = min(total, max(self.settings.depth, k + self._repeats))
        if depth == 0:
            return []
        dense_scores, dense_ids = self.index.vectors.search(query.reshape(1, -1), depth)
        dense = {
            int(i): float(s) for s, i in zip(dense_scores[0], dense_ids[0], strict=True) if i >= 0
        }
        lexical = self.index.lexical.scores(question)
        lexical_ids = (
            np.argpartition(-lexical, depth - 1)[:depth] if depth < total else range(total)
        )
        for i in lexical_ids:
            if int(i) not in dense and lexical[i] > 0:
                dense[int(i)] = float(self.index.vectors.reconstruct(int(i)) @ query)
        weight = self.settings.lexical_weight
        ranked = sorted(
            (
                Hit(self.index.chunks[i], d + weight * float(lexical[i]), d, float(lexical[i]))
                for i, d in dense.items()
            ),
            key=lambda h: (-h.score, h.chunk.chunk_id),
        )
        hits: list[Hit] = []
        seen: set[str] = set()
        for hit in ranked:
            key = self._keys[hit.chunk.chunk_id]
            if key not in seen:
                seen.add(key)
                hits.append(hit)
                if len(hits) == k:
                    break
        return hits

    def margin(self, hits: list[Hit], query: np.ndarray) -> float:
        """How much better the best passage matches than the closest generic question."""
        if not hits:
            return -np.inf
        background = self.index.background
        closest = float((background @ query).max()) if len(background) else 0.0
        return hits[0].score - self.settings.background_weight * closest

    def answerable(self, hits: list[Hit], query: np.ndarray) -> bool:
        return self.margin(hits, query) >= self.settings.min_margin
