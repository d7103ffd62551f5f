"""The lexical backend: BM25 (bm25s' "lucene" variant) over the chunk texts.

Each segment of an index keeps its chunks' term frequencies by term (`Postings`: CSC arrays
over the index's one vocabulary) and each chunk's length in terms; the vocabulary
(`bm25_vocab.json`) only grows, so a segment's postings stay valid in every later version. A
question is scored with numpy from the question's postings alone, with the collection's current
statistics (chunk count, document frequencies, mean length), so adding or removing a document
rewrites only the postings of the segments it touches: nothing is rebuilt over the whole index.
The scores equal bm25s' own (tests/test_lexical.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..settings import LexicalSettings
from ..words import bm25_terms

VOCAB = "bm25_vocab.json"
POSTINGS = ("bm25_indptr.npy", "bm25_rows.npy", "bm25_tf.npy", "bm25_lengths.npy")


def lexical_text(title: str, text: str, settings: LexicalSettings) -> str:
    if settings.fields == "title+chunk-text" and title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


def same_terms(a: LexicalSettings, b: LexicalSettings) -> bool:
    """Whether both make the same terms of a text (k1 and b only weigh them)."""
    return (a.stemmer, a.fields, a.stopwords) == (b.stemmer, b.fields, b.stopwords)


class Vocabulary:
    """Term -> id, append-only across the versions of an index."""

    def __init__(self, ids: dict[str, int] | None = None) -> None:
        self.ids = dict(ids or {})
        self.grown = False  # a term was added since it was read

    def id_lists(self, term_lists: Sequence[list[str]]) -> list[list[int]]:
        ids = self.ids
        out = []
        for terms in term_lists:
            row = []
            for term in terms:
                i = ids.get(term)
                if i is None:
                    i = ids[term] = len(ids)
                    self.grown = True
                row.append(i)
            out.append(row)
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        ids = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(ids, dict):
            raise ValueError("the BM25 vocabulary is not a JSON object")
        numbers = np.fromiter(ids.values(), dtype=np.int64, count=len(ids))
        seen = np.zeros(len(ids), dtype=bool)
        inside = numbers[(numbers >= 0) & (numbers < len(ids))]
        seen[inside] = True
        if len(inside) != len(ids) or not seen.all():
            raise ValueError("the BM25 vocabulary is not a numbering of its terms")
        return cls(ids)


@dataclass(frozen=True)
class Postings:
    """One segment's term frequencies: the rows (local chunk numbers) and counts of term t are
    rows[indptr[t]:indptr[t + 1]], tf[...]; lengths[row] = the chunk's number of terms."""

    indptr: np.ndarray  # int64, vocabulary size when written + 1
    rows: np.ndarray  # int32, ascending within a term
    tf: np.ndarray  # float32
    lengths: np.ndarray  # float32, one per chunk

    @classmethod
    def from_ids(cls, id_lists: Sequence[list[int]], vocabulary_size: int) -> Postings:
        lengths = np.array([len(ids) for ids in id_lists], dtype=np.float32)
        if not id_lists or not lengths.sum():
            return cls._of(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), lengths, 0)
        terms = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in id_lists])
        rows = np.repeat(np.arange(len(id_lists), dtype=np.int64), lengths.astype(np.int64))
        pairs, tf = np.unique(terms * len(id_lists) + rows, return_counts=True)  # term-major
        return cls._of(pairs // len(id_lists), pairs % len(id_lists), tf, lengths, vocabulary_size)

    @classmethod
    def _of(cls, terms, rows, tf, lengths, vocabulary_size: int) -> Postings:
        """From (term, row, tf) triples sorted by term, then row."""
        counts = np.bincount(terms, minlength=vocabulary_size) if len(terms) else None
        indptr = np.zeros(vocabulary_size + 1, dtype=np.int64)
        if counts is not None:
            np.cumsum(counts, out=indptr[1:])
        return cls(
            indptr,
            np.asarray(rows, dtype=np.int32),
            np.asarray(tf, dtype=np.float32),
            np.asarray(lengths, dtype=np.float32),
        )

    def take(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(terms, rows renumbered from 0, tf, lengths) of the rows `keep` (ascending)."""
        new_row = np.full(len(self.lengths), -1, dtype=np.int64)
        new_row[keep] = np.arange(len(keep))
        terms = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        mapped = new_row[np.asarray(self.rows)]
        kept = mapped >= 0
        return terms[kept], mapped[kept], np.asarray(self.tf)[kept], self.lengths[keep]

    @classmethod
    def join(cls, parts: list[tuple], vocabulary_size: int) -> Postings:
        """One segment's postings from consecutive parts of (terms, rows, tf, lengths)."""
        offset, terms, rows, tf, lengths = 0, [], [], [], []
        for t, r, f, n in parts:
            terms.append(t)
            rows.append(np.asarray(r, dtype=np.int64) + offset)
            tf.append(f)
            lengths.append(n)
            offset += len(n)
        if not parts:
            return cls._of([], [], [], np.zeros(0, np.float32), vocabulary_size)
        terms_all, rows_all = np.concatenate(terms), np.concatenate(rows)
        order = np.lexsort((rows_all, terms_all))
        return cls._of(
            terms_all[order],
            rows_all[order],
            np.concatenate(tf)[order],
            np.concatenate(lengths),
            vocabulary_size,
        )

    def as_part(self) -> tuple:
        return self.take(np.arange(len(self.lengths)))

    def save(self, folder: Path) -> list[str]:
        arrays = (self.indptr, self.rows, self.tf, self.lengths)
        for name, array in zip(POSTINGS, arrays, strict=True):
            np.save(folder / name, array)
        return list(POSTINGS)

    @classmethod
    def load(cls, folder: Path, chunks: int, vocabulary_size: int) -> Postings:
        indptr, rows, tf, lengths = (np.load(folder / n, mmap_mode="r") for n in POSTINGS)
        if (
            not len(indptr)
            or len(indptr) - 1 > vocabulary_size
            or len(rows) != len(tf)
            or int(indptr[-1]) != len(rows)
            or len(lengths) != chunks
            or (len(rows) and not 0 <= int(rows.min()) <= int(rows.max()) < chunks)
        ):
            raise ValueError(f"BM25 postings of {folder.name} do not fit together")
        return cls(np.asarray(indptr), rows, tf, np.asarray(lengths))


class LexicalIndex:
    """BM25 over every segment's postings, scored with numpy (no bm25s or SciPy import)."""

    def __init__(
        self, vocabulary: Vocabulary, parts: list[Postings], settings: LexicalSettings
    ) -> None:
        self.vocabulary = vocabulary  # every term ever indexed (ids stay valid)
        self.vocab = vocabulary.ids  # the terms some chunk holds
        self.parts = parts
        self.settings = settings
        self._stemmer = _stemmer(settings)
        self.offsets = np.cumsum([0] + [len(p.lengths) for p in parts])
        self.n_docs = int(self.offsets[-1])
        df = np.zeros(len(self.vocab), dtype=np.int64)
        total = 0.0
        for p in parts:
            width = len(p.indptr) - 1
            df[:width] += np.diff(p.indptr)
            total += float(p.lengths.sum(dtype=np.float64))
        self.avgdl = total / self.n_docs if self.n_docs else 1.0
        if len(df) and not df.all():  # terms whose every chunk was removed: as if unknown
            self.vocab = {t: i for t, i in self.vocab.items() if df[i]}
        self.df = df
        self._idf = np.log1p((self.n_docs - df + 0.5) / (df + 0.5))
        self._unknown_idf = float(np.log1p((self.n_docs + 0.5) / 0.5))

    @classmethod
    def build(cls, texts: list[str], settings: LexicalSettings) -> LexicalIndex:
        """One segment over `texts` with a fresh vocabulary (tests, tools)."""
        vocabulary = Vocabulary()
        ids = vocabulary.id_lists([bm25_terms(t, _stemmer(settings)) for t in texts])
        return cls(vocabulary, [Postings.from_ids(ids, len(vocabulary.ids))], settings)

    def terms(self, text: str) -> list[str]:
        return bm25_terms(text, self._stemmer)

    def document_frequency(self, term: str) -> int:
        """How many chunks hold `term` (a term as `terms` makes it); 0 when none."""
        i = self.vocab.get(term)
        return 0 if i is None else int(self.df[i])

    def idf(self, term: str) -> float | None:
        """BM25's idf of `term` (a term as `terms` makes it); None when no chunk holds it."""
        i = self.vocab.get(term)
        return None if i is None else float(self._idf[i])

    @cached_property
    def indptr(self) -> np.ndarray:
        """Cumulated document frequencies by term id (indptr[i + 1] - indptr[i] = df of term
        i), as a single CSC matrix's indptr would give them."""
        return np.concatenate([[0], np.cumsum(self.df)])

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every chunk, divided by the sum of the query terms' idf (unknown terms get the
        largest): the lucene variant adds at most idf per term, so 1.0 would mean every term
        matched as strongly as possible. Comparable across queries. A repeated term counts
        twice, as in bm25s."""
        terms = self.terms(query)
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if not ids or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float32)
        k1, b = self.settings.k1, self.settings.b
        rows, weights = [], []
        for part, offset in zip(self.parts, self.offsets, strict=False):
            for i in ids:
                if i + 1 >= len(part.indptr):
                    continue
                at = slice(int(part.indptr[i]), int(part.indptr[i + 1]))
                if at.start == at.stop:
                    continue
                local, tf = np.asarray(part.rows[at]), np.asarray(part.tf[at])
                norm = k1 * ((1 - b) + b * part.lengths[local] / self.avgdl)
                weights.append((self._idf[i] * (tf / (norm + tf))).astype(np.float32))
                rows.append(local.astype(np.int64) + int(offset))
        if not rows:
            return np.zeros(self.n_docs, dtype=np.float32)
        raw = np.bincount(
            np.concatenate(rows), weights=np.concatenate(weights), minlength=self.n_docs
        )
        ceiling = sum(
            float(self._idf[self.vocab[t]]) if t in self.vocab else self._unknown_idf for t in terms
        )
        return (raw / ceiling).astype(np.float32)


def _stemmer(settings: LexicalSettings):
    import Stemmer

    return Stemmer.Stemmer(settings.stemmer)


def stemmer_of(settings: LexicalSettings):
    return _stemmer(settings)
