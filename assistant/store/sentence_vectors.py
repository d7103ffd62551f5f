"""Sentence vectors for highlights, kept in the index so a question needs no extra model call.

At ingest every chunk's sentences get a vector from the same model pass that embeds the chunk
(the mean of the sentence's contextual token states: `Embedder.encode_with_spans`), stored as
int8 rows with a float32 scale each, in chunk order (`sentences.npy`, `sentence_scales.npy`,
both memory-mapped on load); `sentence_rows.npy` says where each chunk's rows start. An index
without them (or a chunk whose sentence count no longer matches) makes `Assistant.ask` encode
that passage's sentences at question time instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VECTORS = "sentences.npy"
SCALES = "sentence_scales.npy"
ROWS = "sentence_rows.npy"


@dataclass(frozen=True)
class SentenceVectors:
    rows: np.ndarray  # int64, chunks + 1 entries: chunk i owns vectors[rows[i]:rows[i + 1]]
    vectors: np.ndarray  # int8, one L2-normalised row per sentence, times 127 / its scale
    scales: np.ndarray  # float32, the largest absolute component of each row

    @classmethod
    def from_parts(cls, counts: list[int], vectors: np.ndarray) -> SentenceVectors:
        rows = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        scales = np.maximum(np.abs(vectors).max(axis=1, initial=0.0), 1e-12).astype(np.float32)
        quantised = np.rint(vectors * (127 / scales[:, None])).astype(np.int8)
        return cls(rows, quantised, scales)

    def of_chunk(self, chunk_id: int, expected: int) -> np.ndarray | None:
        """The chunk's sentence vectors (float32), or None when they do not match `expected`
        sentences (the index was built with another sentence splitter)."""
        if not 0 <= chunk_id < len(self.rows) - 1:
            return None
        start, end = int(self.rows[chunk_id]), int(self.rows[chunk_id + 1])
        if end - start != expected:
            return None
        scales = np.asarray(self.scales[start:end], dtype=np.float32)[:, None] / 127
        return np.asarray(self.vectors[start:end], dtype=np.float32) * scales

    def take(self, ranges: list[tuple[int, int]]) -> SentenceVectors:
        """The sentence vectors of these chunk ranges (start, end), as stored (no requantising)."""
        if not ranges:
            return SentenceVectors(np.zeros(1, np.int64), self.vectors[:0], self.scales[:0])
        counts = np.concatenate([np.diff(self.rows[a : b + 1]) for a, b in ranges])
        spans = [(int(self.rows[a]), int(self.rows[b])) for a, b in ranges]
        return SentenceVectors(
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            np.concatenate([self.vectors[s:e] for s, e in spans]),
            np.concatenate([self.scales[s:e] for s, e in spans]),
        )

    @classmethod
    def join(cls, parts: list[SentenceVectors]) -> SentenceVectors:
        counts = np.concatenate([np.diff(p.rows) for p in parts]) if parts else np.zeros(0)
        return cls(
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            np.concatenate([p.vectors for p in parts]) if parts else np.zeros((0, 0), np.int8),
            np.concatenate([p.scales for p in parts]) if parts else np.zeros(0, np.float32),
        )

    def save(self, folder: Path) -> list[str]:
        np.save(folder / ROWS, self.rows)
        np.save(folder / VECTORS, self.vectors)
        np.save(folder / SCALES, self.scales)
        return [ROWS, VECTORS, SCALES]

    @classmethod
    def load(cls, folder: Path, chunks: int) -> SentenceVectors | None:
        """None for an index without sentence vectors; ValueError when they do not fit."""
        if not (folder / VECTORS).is_file():
            return None
        rows = np.load(folder / ROWS)
        vectors = np.load(folder / VECTORS, mmap_mode="r")
        scales = np.load(folder / SCALES, mmap_mode="r")
        if len(rows) != chunks + 1 or rows[-1] != len(vectors) or len(scales) != len(vectors):
            raise ValueError("sentence vectors do not match the chunks")
        return cls(rows, vectors, scales)


class SentenceVectorSet:
    """The sentence vectors of an index's segments, by global chunk id."""

    def __init__(self, parts: list[SentenceVectors]) -> None:
        self.parts = parts
        self._offsets = np.cumsum([0] + [len(p.rows) - 1 for p in parts])

    def of_chunk(self, chunk_id: int, expected: int) -> np.ndarray | None:
        if not 0 <= chunk_id < int(self._offsets[-1]):
            return None
        part = int(np.searchsorted(self._offsets, chunk_id, side="right")) - 1
        return self.parts[part].of_chunk(chunk_id - int(self._offsets[part]), expected)
