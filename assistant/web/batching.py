"""Questions that arrive together are embedded together, and a question asked lately is not
embedded again. With the float32 model, a batch of 4 to 16 questions costs about half the CPU
per question of one at a time (docs/serving.md); the int8 model (the default) runs each text
alone anyway (embedding.py), so there the batch only saves hand-offs. Nothing waits for a batch
to fill: an idle server encodes a lone question at once, and a batch forms only from questions
that arrived while the previous run was busy. The vectors of the last CACHED questions are kept
(a question's vector depends on its text only)."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

MAX_BATCH = 32  # texts per model run at most
CACHED = 4096  # question vectors kept, the most recently used


class BatchingEmbedder:
    """Wraps an embedder: `encode` of a few texts (a question) joins the next model run, made
    by one worker thread; larger calls and every other attribute go to the wrapped embedder."""

    def __init__(self, embedder) -> None:
        self.wrapped = embedder
        self._waiting: queue.SimpleQueue[tuple[list[str], Future]] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def encode(self, texts: Sequence[str], *args, **kwargs) -> np.ndarray:
        texts = list(texts)
        if args or kwargs or not 0 < len(texts) <= 4:
            return self.wrapped.encode(texts, *args, **kwargs)
        with self._lock:
            known = [self._cache.get(t) for t in texts]
            for t in texts:
                if t in self._cache:
                    self._cache.move_to_end(t)
        if all(v is not None for v in known):
            return np.stack(known)
        future: Future = Future()
        self._waiting.put((texts, future))
        if self._worker is None:
            with self._lock:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._run, daemon=True)
                    self._worker.start()
        vectors = future.result()
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = vector.copy()
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        return vectors

    def _run(self) -> None:
        while True:
            batch = [self._waiting.get()]  # sleeps until a question comes
            taken = len(batch[0][0])
            while taken < MAX_BATCH:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
                taken += len(batch[-1][0])
            try:
                vectors = self.wrapped.encode([t for texts, _ in batch for t in texts])
            except BaseException as exc:  # each waiting caller gets the error
                for _, future in batch:
                    future.set_exception(exc)
                continue
            start = 0
            for texts, future in batch:
                future.set_result(vectors[start : start + len(texts)])
                start += len(texts)


def batch_questions(assistant) -> None:
    """Makes `assistant` embed its questions through a BatchingEmbedder (once)."""
    if not isinstance(assistant.embedder, BatchingEmbedder):
        assistant.embedder = BatchingEmbedder(assistant.embedder)
