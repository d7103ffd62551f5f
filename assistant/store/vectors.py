"""Which chunks are closest to a question: an exact search (one matrix-vector product over the
memory-mapped `vectors.npy`) below `approximate_from` chunks, an inverted file of 8-bit codes
(FAISS `IndexIVFScalarQuantizer`) above it, whose best `rerank` candidates are then scored
exactly, so every score the retriever sees is an exact cosine. The settings are stored in the
manifest (`vector_index`); figures are in docs/speed-and-scale.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..settings import VectorIndexSettings

if TYPE_CHECKING:
    import faiss


def approximate(n: int, settings: VectorIndexSettings) -> bool:
    """Whether `n` vectors get an IVF index (else: exact search over the rows alone)."""
    return settings.kind_for(n) != "flat" and settings.lists_for(n) >= 2


def build(
    vectors: np.ndarray | list[np.ndarray],
    settings: VectorIndexSettings | None = None,
    trained: faiss.Index | None = None,
) -> faiss.Index:
    """An index over `vectors` (L2-normalised float32 rows, or consecutive blocks of them;
    inner product = cosine): a flat one below the threshold (tests, tools: the store keeps
    none), an IVF with 8-bit codes above it. `trained`: an IVF of an earlier version whose lists
    are reused when their number is within 20% of what `vectors` call for (no k-means)."""
    import faiss

    settings = settings or VectorIndexSettings()
    blocks = vectors if isinstance(vectors, list) else [vectors]
    n = sum(len(b) for b in blocks)
    dimension = blocks[0].shape[1]
    if not approximate(n, settings):
        index = faiss.IndexFlatIP(dimension)
        for block in blocks:
            index.add(np.ascontiguousarray(block, dtype=np.float32))
        return index
    lists = settings.lists_for(n)
    old = _as_ivf(trained) if trained is not None else None
    if old is not None and abs(old.nlist - lists) <= 0.2 * lists:
        index = faiss.clone_index(trained)
        index.reset()
        _add(index, blocks)
        index.nprobe = settings.nprobe
        return index
    vectors = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dimension),
        dimension,
        lists,
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    sample = min(n, settings.train_per_list * lists)
    rng = np.random.default_rng(settings.seed)
    chosen = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else slice(None)
    index.cp.seed = settings.seed
    index.cp.niter = settings.train_iterations
    index.train(vectors[chosen])
    _add(index, [vectors])
    index.nprobe = settings.nprobe
    return index


def _add(index: faiss.Index, blocks: list[np.ndarray]) -> None:
    for block in blocks:
        for start in range(0, len(block), 65536):
            index.add(np.ascontiguousarray(block[start : start + 65536], dtype=np.float32))


def describe(index: faiss.Index | None, n: int | None = None) -> dict:
    """What the manifest records about the built index (None: exact search over `n` rows)."""
    ivf = _as_ivf(index) if index is not None else None
    if ivf is None:
        return {"type": "flat", "vectors": int(index.ntotal if n is None else n)}
    import faiss

    codes = (
        "sq8" if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFScalarQuantizer) else "flat"
    )
    return {"type": "ivf", "codes": codes, "vectors": int(index.ntotal), "lists": int(ivf.nlist)}


def save(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, settings: VectorIndexSettings | None = None) -> faiss.Index:
    """Reads the IVF index with its search settings, into memory, where its lists search about
    1.6x faster than through a memory map (measured at 1M)."""
    import faiss

    index = faiss.read_index(str(path))
    ivf = _as_ivf(index)
    if ivf is not None:
        ivf.nprobe = (settings or VectorIndexSettings()).nprobe
    return index


class VectorSearch:
    """The chunk vectors, searchable: each segment's exact float32 rows (memory-mapped), and,
    from the threshold on, an IVF index over all of them (`faiss`; None: exact search) whose
    candidates are re-scored from the exact rows."""

    def __init__(
        self,
        index: faiss.Index | None,
        matrix: np.ndarray | list[np.ndarray],
        settings: VectorIndexSettings,
        dimension: int | None = None,
    ):
        parts = matrix if isinstance(matrix, list) else [matrix]
        self.parts = [np.asarray(p) for p in parts]  # plain views of the memory maps
        self.faiss = index if index is not None and _as_ivf(index) is not None else None
        self.exact = self.faiss is None
        self.rerank = settings.rerank
        self._offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self._d = dimension or (self.parts[0].shape[1] if self.parts else 0)
        self._joined: np.ndarray | None = None

    @property
    def ntotal(self) -> int:
        return int(self._offsets[-1])

    @property
    def d(self) -> int:
        return int(self._d)

    @property
    def matrix(self) -> np.ndarray:
        """All rows as one array (row i = chunk i): the one part itself, or a copy (tools)."""
        if len(self.parts) == 1:
            return self.parts[0]
        if self._joined is None:
            self._joined = (
                np.concatenate(self.parts) if self.parts else np.zeros((0, self.d), np.float32)
            )
        return self._joined

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) for each query row: best first, ties by id, padded with -inf / -1 past
        the end. Below the threshold every vector is scored (one BLAS matrix-vector product per
        segment: exact, and faster than a FAISS flat scan for one question)."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.d)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if self.exact:
            every = (
                np.concatenate([queries @ p.T for p in self.parts], axis=1)
                if self.parts
                else np.zeros((len(queries), 0), np.float32)
            )
            candidates = [_best_rows(row, k) for row in every]
            found = [every[q, rows] for q, rows in enumerate(candidates)]
        else:
            _, approximate = self.faiss.search(queries, max(k, self.rerank))
            candidates = [np.sort(row[row >= 0]) for row in approximate]
            found = [self.reconstruct_batch(rows) @ queries[q] for q, rows in enumerate(candidates)]
        for q, (rows, exact) in enumerate(zip(candidates, found, strict=True)):
            best = np.argsort(-exact, kind="stable")[:k]  # rows ascend: ties go to the lower id
            scores[q, : len(best)], ids[q, : len(best)] = exact[best], rows[best]
        return scores, ids

    def reconstruct_batch(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.parts) == 1:
            return np.asarray(self.parts[0][rows], dtype=np.float32)
        out = np.empty((len(rows), self.d), dtype=np.float32)
        part = np.searchsorted(self._offsets, rows, side="right") - 1
        for p in np.unique(part):
            mine = part == p
            out[mine] = self.parts[p][rows[mine] - self._offsets[p]]
        return out


def _best_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Ascending ids of the k best scores, all of any tie at the k-th kept (sorted out later)."""
    if k >= len(scores):
        return np.arange(len(scores))
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    return np.flatnonzero(scores >= kth)


def _as_ivf(index: faiss.Index):
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
