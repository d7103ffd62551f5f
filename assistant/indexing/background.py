"""The generic questions answerability compares a question with: their vectors depend only on
the embedder, so they are computed once per embedder and cached; which of them an index keeps
(those no chunk is close to) is counted per question and updated by each write from the rows
it adds and removes alone."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .. import settings as config
from ..settings import ModelSettings
from ..store.folder import Background, Index

QUESTIONS = Path(__file__).resolve().parent.parent / "background_questions.txt"
BLOCK = 65536  # rows compared at once: bounded memory on large indexes


def identity(embedder) -> str:
    """What the embedder's vectors depend on. `fingerprint`, where the embedder has one, names
    the model, its export and its precision; else the model settings and the backend."""
    fingerprint = getattr(embedder, "fingerprint", None)
    if fingerprint:
        return str(fingerprint)
    model = ModelSettings.of(embedder).to_dict()
    return json.dumps({**model, "backend": getattr(embedder, "backend", "")}, sort_keys=True)


def questions() -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [q.strip() for q in lines if q.strip()]


def question_vectors(embedder) -> tuple[np.ndarray, str]:
    """The generic questions' vectors and their key: read from the cache, or computed once and
    cached ($ASSISTANT_CACHE_DIR/background/KEY.npy; an unwritable cache only costs time)."""
    texts = questions()
    digest = hashlib.sha256(identity(embedder).encode())
    digest.update("\n".join(texts).encode())
    key = digest.hexdigest()[:20]
    path = config.cache_dir() / "background" / f"{key}.npy"
    try:
        cached = np.load(path)
        if cached.shape == (len(texts), embedder.dimension) and cached.dtype == np.float32:
            return cached, key
    except (OSError, ValueError):
        pass
    vectors = np.ascontiguousarray(embedder.encode(texts), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors)
        os.replace(temp, path)  # readers see the whole file or none
    except OSError:
        pass
    return vectors, key


def hits(vectors: np.ndarray, blocks: list[np.ndarray], cut: float) -> np.ndarray:
    """Per question, how many rows of `blocks` are at or above `cut` (cosine)."""
    out = np.zeros(len(vectors), dtype=np.int64)
    for block in blocks:
        for start in range(0, len(block), BLOCK):
            rows = np.asarray(block[start : start + BLOCK], dtype=np.float32)
            if len(rows):
                out += (vectors @ rows.T >= cut).sum(axis=1)
    return out


def background(
    embedder,
    cut: float,
    old: Index | None,
    all_rows: list[np.ndarray],
    entering: list[np.ndarray],
    leaving: list[np.ndarray],
) -> Background:
    """The new version's background: counted from the rows that enter and leave when the old
    version counted with the same questions and cut, else over `all_rows`."""
    vectors, key = question_vectors(embedder)
    recorded = (old.manifest.get("background") or {}) if old is not None else {}
    same = (
        old is not None
        and old.background_hits is not None
        and recorded.get("key") == key
        and old.settings.retrieval.background_max_corpus_similarity == cut
        and len(old.background_hits) == len(vectors)
    )
    if same:
        counts = old.background_hits + hits(vectors, entering, cut) - hits(vectors, leaving, cut)
    else:
        counts = hits(vectors, all_rows, cut)
    return Background(vectors[counts == 0], counts, key)
