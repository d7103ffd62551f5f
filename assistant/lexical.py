"""The lexical backend: BM25 (bm25s) over the chunk texts, saved in the index folder's bm25/."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Common function words and question words: they say nothing about which passage answers.
STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does doing for from had has have
    having he her here hers him his how i if in into is it its itself me my no not of on or our
    ours she should so than that the their theirs them then there these they this those to was
    we were what when where which while who whom whose why will with would you your yours about
    after also any again against all am both did during each few further many more most much nor
    only other over own same some such through under until up very just tell know say said does
    please""".split()
)


@dataclass(frozen=True)
class LexicalSettings:
    """Tuned on the SciFact train split (scripts/tune_scifact.py): nDCG@10 is flat for k1 0.9-1.5
    and b 0.3-0.4, and indexing the title with every chunk gains ~0.005 over chunk text alone."""

    k1: float = 1.2
    b: float = 0.4
    stemmer: str = "english"
    fields: str = "title+chunk-text"  # or "chunk-text": leave the document title out
    stopwords: str = "assistant-v1"  # names STOPWORDS; change it when the list changes

    def to_dict(self) -> dict:
        return asdict(self)


def lexical_text(title: str, text: str, settings: LexicalSettings) -> str:
    if settings.fields == "title+chunk-text" and title and not text.startswith(title):
        return f"{title}\n{text}"
    return text


class LexicalIndex:
    def __init__(self, bm25, settings: LexicalSettings) -> None:
        self.bm25 = bm25
        self.settings = settings
        self._stemmer = _stemmer(settings)
        df = np.diff(np.asarray(bm25.scores["indptr"]))
        n = int(bm25.scores["num_docs"])
        self._vocab = bm25.vocab_dict
        self._idf = np.log1p((n - df + 0.5) / (df + 0.5))
        self._unknown_idf = float(np.log1p((n + 0.5) / 0.5))

    @classmethod
    def build(cls, texts: list[str], settings: LexicalSettings) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        with _quiet():
            bm25.index(_tokenize(texts, _stemmer(settings)), show_progress=False)
        return cls(bm25, settings)

    def save(self, folder: Path) -> None:
        with _quiet():
            self.bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path, settings: LexicalSettings) -> LexicalIndex:
        import bm25s

        with _quiet():
            bm25 = bm25s.BM25.load(str(folder), mmap=False)
        return cls(bm25, settings)

    def terms(self, text: str) -> list[str]:
        return _tokenize([text], self._stemmer)[0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every chunk, divided by the sum of the query terms' idf (unknown terms get the
        largest): bm25s' lucene variant adds at most idf per term, so 1.0 would mean every term
        matched as strongly as possible. Comparable across queries."""
        terms = self.terms(query)
        known = [t for t in terms if t in self._vocab]
        n_docs = self.bm25.scores["num_docs"]
        if not known:
            return np.zeros(n_docs, dtype=np.float32)
        raw = self.bm25.get_scores(known)
        ceiling = sum(
            float(self._idf[self._vocab[t]]) if t in self._vocab else self._unknown_idf
            for t in terms
        )
        return (raw / ceiling).astype(np.float32)


def _stemmer(settings: LexicalSettings):
    import Stemmer

    return Stemmer.Stemmer(settings.stemmer)


def _tokenize(texts: list[str], stemmer) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(
        texts,
        stopwords=sorted(STOPWORDS),
        stemmer=stemmer.stemWords,
        return_ids=False,
        show_progress=False,
    )


class _quiet:
    """bm25s logs progress at INFO level; keep the CLI's output clean."""

    def __enter__(self):
        self._logger = logging.getLogger("bm25s")
        self._level = self._logger.level
        self._logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self._logger.setLevel(self._level)
