"""Search over the index: dense (FAISS cosine), lexical (BM25) or both fused; answerability.

Every hit carries both signals, whatever the mode, so answers can show why a passage matched and
answerability does not depend on the mode asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import InvalidArgumentError
from ..schema import MODES, Chunk
from ..settings import RetrievalSettings
from ..store.folder import Index
from ..words import WORD


@dataclass(frozen=True)
class Ranking:
    hits: Sequence[Hit]
    best_dense: float  # the highest cosine of the question with any chunk
    best_lexical: float  # the highest normalised BM25 of any chunk


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # what the mode ranks by
    dense: float  # cosine of question and chunk
    lexical: float  # BM25 / sum of the question terms' idf, 0..~1


class _Hits(Sequence):
    """Ranked candidates, each Hit made when read: a question reads a few of some 200."""

    def __init__(self, chunks: Sequence[Chunk], rows, score, dense, lexical) -> None:
        self._chunks, self._rows = chunks, rows
        self._score, self._dense, self._lexical = score, dense, lexical

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Hit(
            self._chunks[int(self._rows[i])],
            float(self._score[i]),
            float(self._dense[i]),
            float(self._lexical[i]),
        )


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0, dtype=np.float32)
CACHE_CHUNKS = 10_000  # chunks whose words a retriever keeps for the near-copy check


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller word set found in the other: 1.0 for a copy or an excerpt."""
    return len(a & b) / min(len(a), len(b)) if a and b else float(a == b)


def _kept(cache: dict, chunk: Chunk, make):
    value = cache.get(chunk.chunk_id)
    if value is None:
        if len(cache) >= CACHE_CHUNKS:
            cache.clear()
        value = cache[chunk.chunk_id] = make(chunk)
    return value


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidArgumentError(f"retriever must be one of {', '.join(MODES)}, not {mode!r}.")
    return mode


class Retriever:
    def __init__(self, index: Index) -> None:
        self.index = index
        self.settings: RetrievalSettings = index.settings.retrieval
        self._words: dict[int, frozenset[str]] = {}  # per chunk id, kept between questions

    def rank(
        self,
        question: str,
        query: np.ndarray,
        mode: str | None = None,
        depth: int | None = None,
        documents: frozenset[str] | None = None,
    ) -> Ranking:
        """Candidate chunks, best first: the `depth` best of each ranking the mode uses.
        With `documents` (doc_ids), only those documents' chunks, all of them scored exactly."""
        mode = check_mode(mode or self.settings.mode)
        total = self.index.vectors.ntotal
        depth = min(total, depth or self.settings.depth)
        lexical = self.index.lexical.scores(question)
        if documents is not None:
            return self._rank_within(documents, query, lexical, mode, depth)
        if depth == 0:
            return Ranking([], 0.0, 0.0)
        scores, ids = self.index.vectors.search(
            query.reshape(1, -1), 1 if mode == "bm25" else depth
        )
        best_dense = float(scores[0][0])
        found = ids[0] >= 0
        rows, dense = (
            (ids[0][found], scores[0][found]) if mode != "bm25" else (_NO_ROWS, _NO_SCORES)
        )
        if mode != "dense":
            top = (
                np.argpartition(-lexical, depth - 1)[:depth] if depth < total else np.arange(total)
            )
            missing = np.setdiff1d(top[lexical[top] > 0], rows)
            if missing.size:
                vectors = self.index.vectors.reconstruct_batch(missing.astype(np.int64))
                rows = np.concatenate([rows, missing])
                dense = np.concatenate([dense, vectors @ query])
        dense, lex = dense.astype(np.float64), lexical[rows].astype(np.float64)
        score = {"dense": dense, "bm25": lex, "hybrid": dense + self.settings.lexical_weight * lex}[
            mode
        ]
        order = np.lexsort((rows, -score))  # best first; ties by chunk id (= row)
        hits = _Hits(self.index.chunks, rows[order], score[order], dense[order], lex[order])
        return Ranking(hits, best_dense, float(lexical.max()))

    def words(self, chunk: Chunk) -> frozenset[str]:
        """The chunk's distinct words (case-folded), for the near-copy check."""
        return _kept(self._words, chunk, lambda c: frozenset(WORD.findall(c.text.casefold())))

    @cached_property
    def _first_row(self) -> dict[str, tuple[int, int]]:
        """Each document's chunk rows (start, end): a write stores a document's chunks together,
        in manifest order, so the manifest's chunk counts give them without reading a chunk."""
        rows, start = {}, 0
        for entry in self.index.manifest["documents"]:
            rows[entry["doc_id"]] = (start, start + entry["chunks"])
            start += entry["chunks"]
        return rows

    def _rows_of(self, doc_id: str) -> np.ndarray:
        start, end = self._first_row.get(doc_id, (0, 0))
        chunks = self.index.chunks
        if end > start and chunks[start].doc_id == doc_id == chunks[end - 1].doc_id:
            return np.arange(start, end, dtype=np.int64)
        rows = [i for i, c in enumerate(chunks) if c.doc_id == doc_id]  # not stored together
        return np.array(rows, dtype=np.int64)

    def _rank_within(
        self,
        documents: frozenset[str],
        query: np.ndarray,
        lexical: np.ndarray,
        mode: str,
        depth: int,
    ) -> Ranking:
        rows = np.sort(np.concatenate([self._rows_of(d) for d in documents] or [_NO_ROWS]))
        if not rows.size or depth == 0:
            return Ranking([], 0.0, 0.0)
        dense = np.concatenate(  # in blocks: bounded memory when the subset is large
            [
                self.index.vectors.reconstruct_batch(rows[at : at + 65536]) @ query
                for at in range(0, len(rows), 65536)
            ]
        )
        dense, lex = dense.astype(np.float64), lexical[rows].astype(np.float64)
        weight = self.settings.lexical_weight
        scores = {"dense": dense, "bm25": lex, "hybrid": dense + weight * lex}[mode]
        top = np.argsort(-scores, kind="stable")[:depth]
        if mode == "bm25":
            top = top[lex[top] > 0]
        hits = _Hits(self.index.chunks, rows[top], scores[top], dense[top], lex[top])
        return Ranking(hits, float(dense.max()), float(lex.max()))

    def search(
        self,
        question: str,
        query: np.ndarray,
        k: int,
        mode: str | None = None,
        documents: frozenset[str] | None = None,
    ) -> Ranking:
        """The k best chunks, leaving out any that nearly repeats a better one's words."""
        ranking = self.rank(question, query, mode, documents=documents)
        chosen: list[Hit] = []
        chosen_words: list[frozenset[str]] = []
        for hit in ranking.hits:
            words = self.words(hit.chunk)
            if any(overlap(words, other) >= self.settings.near_duplicate for other in chosen_words):
                continue
            chosen.append(hit)
            chosen_words.append(words)
            if len(chosen) == k:
                break
        return Ranking(chosen, ranking.best_dense, ranking.best_lexical)

    def closest_background(self, query: np.ndarray) -> float:
        background = self.index.background
        return float((background @ query).max()) if len(background) else 0.0

    def confidence(self, ranking: Ranking, query: np.ndarray) -> float:
        """Probability that the documents answer the question (see RetrievalSettings)."""
        s = self.settings
        if not ranking.hits:
            return 0.0
        z = (
            s.confidence_bias
            + s.confidence_dense * ranking.best_dense
            + s.confidence_lexical * ranking.best_lexical
            + s.confidence_background * self.closest_background(query)
            + s.confidence_log_chunks * np.log10(max(1, self.index.vectors.ntotal))
        )
        return float(1 / (1 + np.exp(-z)))
