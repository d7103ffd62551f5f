"""Which FAISS index holds the chunk vectors: exact below a size threshold, IVF above it.

Exact search (`IndexFlatIP`) costs about 1 ms per 30,000 chunks here, so it is used up to
`approximate_from` chunks. Above that an inverted-file index (`IndexIVFFlat`, inner product,
about 2·√n lists, `nprobe` lists searched) keeps a search at a few milliseconds with recall@10 of
0.95 or more against exact search (measured by `bench/benchmark.py --scale`). Both keep the
full vectors, so the retriever can still read any chunk's vector (`reconstruct_batch`).

The settings are recorded in the index manifest (`vector_index`), so a query uses what the index
was built with. Loading maps the file into memory where FAISS allows it (flat and IVF indexes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import faiss
import numpy as np

KINDS = ("auto", "flat", "ivf")


@dataclass(frozen=True)
class VectorIndexSettings:
    kind: str = "auto"  # auto: flat below approximate_from chunks, ivf from there on
    approximate_from: int = 200_000
    lists_per_sqrt: float = 2.0  # IVF lists = lists_per_sqrt * sqrt(chunks), at most max_lists
    max_lists: int = 16_384
    nprobe: int = 48  # lists searched per query
    train_per_list: int = 40  # training sample = train_per_list * lists (k-means)
    train_iterations: int = 10
    seed: int = 1234

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"vector index kind must be one of {KINDS}, not {self.kind!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> VectorIndexSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def kind_for(self, n: int) -> str:
        if self.kind != "auto":
            return self.kind
        return "ivf" if n >= self.approximate_from else "flat"

    def lists_for(self, n: int) -> int:
        return max(1, min(self.max_lists, round(self.lists_per_sqrt * math.sqrt(n)), n // 39))


def build(vectors: np.ndarray, settings: VectorIndexSettings | None = None) -> faiss.Index:
    """An index over `vectors` (L2-normalised float32 rows; inner product = cosine)."""
    settings = settings or VectorIndexSettings()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dimension = vectors.shape
    if settings.kind_for(n) == "flat" or settings.lists_for(n) < 2:
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index
    lists = settings.lists_for(n)
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    sample = min(n, settings.train_per_list * lists)
    rng = np.random.default_rng(settings.seed)
    chosen = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else slice(None)
    index.cp.seed = settings.seed
    index.cp.niter = settings.train_iterations
    index.train(vectors[chosen])
    for start in range(0, n, 65536):
        index.add(vectors[start : start + 65536])
    index.make_direct_map()  # reconstruct(id) for the hybrid retriever's lexical candidates
    index.nprobe = settings.nprobe
    return index


def describe(index: faiss.Index) -> dict:
    """What the manifest records about the built index."""
    ivf = _as_ivf(index)
    if ivf is None:
        return {"type": "flat", "vectors": int(index.ntotal)}
    return {"type": "ivf", "vectors": int(index.ntotal), "lists": int(ivf.nlist)}


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path, settings: VectorIndexSettings | None = None) -> faiss.Index:
    """Reads the index, mapped into memory where FAISS allows it, with the search settings."""
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:  # a layout FAISS cannot map: read it whole
        index = faiss.read_index(str(path))
    ivf = _as_ivf(index)
    if ivf is not None:
        ivf.nprobe = (settings or VectorIndexSettings()).nprobe
    return index


def _as_ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
