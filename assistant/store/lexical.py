"""The lexical backend: BM25 over the chunk texts (scored by bm25s at build time), in bm25/."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..settings import LexicalSettings
from ..words import bm25_terms

PARAMS, VOCAB = "params.index.json", "vocab.index.json"
ARRAYS = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")


def lexical_text(title: str, text: str, settings: LexicalSettings) -> str:
    if settings.fields == "title+chunk-text" and title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


class LexicalIndex:
    """BM25 scores of every (term, chunk) pair, precomputed by bm25s at build time and saved in
    its folder layout; loading maps the arrays into memory and scores a question with numpy
    alone (no bm25s or SciPy import: a faster start)."""

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        vocab: dict[str, int],
        n_docs: int,
        settings: LexicalSettings,
    ) -> None:
        self.data, self.indices, self.indptr = data, indices, indptr  # CSC: one column a term
        self.vocab = vocab
        self.n_docs = n_docs
        self.settings = settings
        self._stemmer = _stemmer(settings)
        df = np.diff(np.asarray(indptr))
        self._idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        self._unknown_idf = float(np.log1p((n_docs + 0.5) / 0.5))

    @classmethod
    def build(cls, texts: list[str], settings: LexicalSettings) -> LexicalIndex:
        import bm25s

        stemmer = _stemmer(settings)
        terms = [bm25_terms(t, stemmer) for t in texts]
        if not any(terms):  # bm25s cannot index a corpus without a single term
            nothing = np.zeros(0, dtype=np.float32)
            return cls(
                nothing, nothing.astype(np.int32), np.zeros(1, np.int32), {}, len(texts), settings
            )
        bm25 = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        with _quiet():
            bm25.index(terms, show_progress=False)
        scores = bm25.scores
        vocab = {t: i for t, i in bm25.vocab_dict.items() if t}  # bm25s adds an empty term
        return cls(
            scores["data"],
            scores["indices"],
            scores["indptr"],
            vocab,
            int(scores["num_docs"]),
            settings,
        )

    def save(self, folder: Path) -> None:
        """bm25s' own layout: `bm25s.BM25.load(folder)` reads it too."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in zip(ARRAYS, (self.data, self.indices, self.indptr), strict=True):
            np.save(folder / name, np.asarray(array))
        (folder / VOCAB).write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        params = {
            "k1": self.settings.k1,
            "b": self.settings.b,
            "delta": 0.5,
            "method": "lucene",
            "idf_method": "lucene",
            "dtype": str(self.data.dtype),
            "int_dtype": str(self.indices.dtype),
            "num_docs": self.n_docs,
            "backend": "numpy",
        }
        (folder / PARAMS).write_text(json.dumps(params, indent=4), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, settings: LexicalSettings) -> LexicalIndex:
        """Reads what `save` wrote (bm25s' layout); ValueError for anything else."""
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))
        expected = {"k1": settings.k1, "b": settings.b, "method": "lucene"}
        if {k: params.get(k) for k in expected} != expected:
            raise ValueError(f"BM25 parameters {params} are not {expected}")
        vocab = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        arrays = [np.load(folder / name, mmap_mode="r") for name in ARRAYS]
        data, indices, indptr = arrays
        n_docs = int(params["num_docs"])
        if (
            not len(indptr)
            or len(data) != len(indices)
            or int(indptr[-1]) != len(data)
            or (len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < n_docs)
        ):
            raise ValueError("BM25 arrays do not fit together")
        vocab = {t: int(i) for t, i in vocab.items() if t}  # bm25s adds an empty term
        if any(not 0 <= i < len(indptr) - 1 for i in vocab.values()):
            raise ValueError("BM25 vocabulary points past its arrays")
        return cls(data, indices, indptr, vocab, n_docs, settings)

    def terms(self, text: str) -> list[str]:
        return bm25_terms(text, self._stemmer)

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every chunk, divided by the sum of the query terms' idf (unknown terms get the
        largest): the lucene variant adds at most idf per term, so 1.0 would mean every term
        matched as strongly as possible. Comparable across queries."""
        terms = self.terms(query)
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        columns = [slice(int(self.indptr[i]), int(self.indptr[i + 1])) for i in ids]
        raw = np.bincount(
            np.concatenate([self.indices[c] for c in columns]),
            weights=np.concatenate([self.data[c] for c in columns]),
            minlength=self.n_docs,
        )
        ceiling = sum(
            float(self._idf[self.vocab[t]]) if t in self.vocab else self._unknown_idf for t in terms
        )
        return (raw / ceiling).astype(np.float32)


def _stemmer(settings: LexicalSettings):
    import Stemmer

    return Stemmer.Stemmer(settings.stemmer)


class _quiet:
    """bm25s logs progress at INFO level; keep the CLI's output clean."""

    def __enter__(self):
        self._logger = logging.getLogger("bm25s")
        self._level = self._logger.level
        self._logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)
