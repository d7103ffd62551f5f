"""Embedding on a Ray cluster: `assistant ingest --ray` (extra: pip install .[distributed]).

Only the embedding step is spread out: reading, chunking, BM25 and writing the index stay in the
calling process, so chunk ids and the index layout are exactly those of a single-process run.
The chunk texts are cut into shards; a pool of actors, each holding one model, encodes them and
the vectors are put back in chunk order.

Where it runs: `address` (or `--ray-address`, else $RAY_ADDRESS) names a running cluster, e.g.
`ray://head-node:10001` or `auto` on a cluster node; without one, a local Ray instance is
started with this machine's cores. Every node needs this package and its model installed
(`pip install .[distributed]`), the same version as the caller.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .. import settings
from ..embedding import Progress
from ..errors import AssistantError

SHARD = 512  # texts per task: big enough to batch well, small enough to spread evenly


class DistributedError(AssistantError):
    pass


def _ray():
    try:
        import ray
    except ImportError:
        raise DistributedError(
            "Ray is not installed. Install the optional extra: pip install '.[distributed]' "
            "(or pip install ray)."
        ) from None
    return ray


def connect(address: str | None = None, local_cpus: int | None = None):
    """Joins the cluster at `address` / $RAY_ADDRESS, or starts a local Ray instance."""
    ray = _ray()
    if not ray.is_initialized():
        address = address or settings.ray_address()
        options = {"ignore_reinit_error": True, "log_to_driver": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=local_cpus or os.cpu_count(), include_dashboard=False, **options)
    return ray


def encode_with_spans(
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    *,
    address: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`Embedder.encode_with_spans` computed by a pool of Ray actors (one per CPU of the
    cluster unless `workers` says otherwise), results in the order of `texts`."""
    ray = connect(address)
    texts, spans = list(texts), [list(s) for s in spans]
    if not texts:
        from ..embedding import get_embedder

        return get_embedder(precision).encode_with_spans([], [])
    cpus = int(ray.cluster_resources().get("CPU", 1))
    shards = [(texts[i : i + SHARD], spans[i : i + SHARD]) for i in range(0, len(texts), SHARD)]
    count = max(1, min(workers or cpus, len(shards)))

    @ray.remote(num_cpus=1)
    class Encoder:
        def __init__(self, precision: str | None) -> None:
            os.environ.setdefault("ASSISTANT_THREADS", "1")  # one core per actor
            from ..embedding import Embedder

            self.embedder = Embedder(precision=precision)

        def encode(self, shard) -> tuple[np.ndarray, np.ndarray]:
            return self.embedder.encode_with_spans(*shard)

    pool = ray.util.ActorPool([Encoder.remote(precision) for _ in range(count)])
    vectors, span_vectors = [], []
    try:
        for shard, (block, span_block) in zip(
            shards, pool.map(lambda actor, shard: actor.encode.remote(shard), shards), strict=True
        ):
            vectors.append(block)
            span_vectors.append(span_block)
            if progress:
                progress(len(shard[0]))
    except ray.exceptions.RayError as exc:
        raise DistributedError(f"embedding on Ray failed: {exc}") from None
    return (
        np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32),
        np.ascontiguousarray(np.concatenate(span_vectors), dtype=np.float32),
    )
