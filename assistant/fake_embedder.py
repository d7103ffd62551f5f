"""A deterministic stand-in for the model, for fast tests: ASSISTANT_EMBEDDER=fake.

Each word (lower-cased, crudely stemmed) is hashed to a signed position of a 384-d vector, so
texts sharing words are close and the same text always gets the same vector, with no model
loaded. An index built with it records the model "fake/hashed-words" and is refused by the real
model, and the other way round. It takes a precision like the real model (the vectors are the
same at both), so that an index is refused by the other precision in tests too.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from . import settings
from .words import stem

_TOKEN = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)  # words and single punctuation marks


class FakeEmbedder:
    name = "fake/hashed-words"
    backend = "fake"
    note = ""
    dimension = 384
    window = 256

    def __init__(self, precision: str | None = None) -> None:
        self.precision = precision or settings.model_precision()

    @property
    def fingerprint(self) -> str:
        return f"{self.name}|{self.dimension}|{self.precision}|hashed"

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text)) + 2  # [CLS] and [SEP], as the real model counts

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress=None) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self._vector(text)
        if progress and len(texts):
            progress(len(texts))
        return vectors

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 64,
        progress=None,
    ) -> tuple[np.ndarray, np.ndarray]:
        pieces = [text[s:e] for text, text_spans in zip(texts, spans, strict=True)
                  for s, e in text_spans]  # fmt: skip
        sentences = self.encode(pieces).reshape(-1, self.dimension)
        return self.encode(texts, batch_size, progress), sentences

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        words = _TOKEN.findall(text.casefold())[: self.window - 2]
        for word in words:
            code = zlib.crc32(stem(word).encode("utf-8"))
            vector[code % self.dimension] += 1.0 if code & 1 << 31 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector
