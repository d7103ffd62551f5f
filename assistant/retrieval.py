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

    min_score: float = 0.35  # cosine below which the best passage is not an answer

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RetrievalSettings:
        return cls(**d)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


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

    def search(self, query: np.ndarray, k: int) -> list[Hit]:
        """The k best distinct chunks for a normalised query vector, best first."""
        total = self.index.vectors.ntotal
        fetch = min(total, k + self._repeats)
        if fetch == 0:
            return []
        scores, ids = self.index.vectors.search(query.reshape(1, -1).astype(np.float32), fetch)
        hits: list[Hit] = []
        seen: set[str] = set()
        for score, i in zip(scores[0], ids[0]):
            if i < 0 or self._keys[i] in seen:
                continue
            seen.add(self._keys[i])
            hits.append(Hit(self.index.chunks[i], float(score)))
            if len(hits) == k:
                break
        return hits

    def answerable(self, hits: list[Hit]) -> bool:
        return bool(hits) and hits[0].score >= self.settings.min_score
