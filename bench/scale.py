"""Scale: the approximate vector index at 1,000,000 vectors, cold start on a 100k-chunk index,
and small updates of it.

    .venv/bin/python bench/scale.py [--vectors 1000000] [--cold-chunks 100000]
                                    [--update-chunks 100000] [--runs 3]
    (also run by bench/benchmark.py --scale; a part given 0 is skipped, and the parts run are
    replaced in bench/scale.json, the others kept)

1. Vectors: synthetic, 384-d, L2-normalised, shaped like real MiniLM embeddings: one topic
   per four vectors, the topics spread over a 24-dimensional subspace, each vector its topic
   plus isotropic noise. `--calibrate` compares this with the real SciFact index (questions
   against abstracts, built by `assistant eval`): the cosine of a question's 1st/10th/100th
   neighbour and the recall of a small IVF index should be close. Measured: build time,
   recall@10 against exact search for held-out queries at several nprobe, search p50/p95 (one
   query at a time), bytes per vector on disk, resident memory after a memory-mapped load, and
   the exact search's p50 for comparison.
2. Cold start: a 100,000-chunk index in the real layout (generated passages, the real chunker
   and BM25; synthetic vectors, because embedding 22M tokens takes hours here), then the time
   from starting `assistant ask` to its answer.
3. Small updates: on a copy of that index (hard links: a write never changes a file in place),
   `assistant ingest one.txt` and `assistant remove one.txt` end to end (process start, model
   load, embedding with the real model, write, swap), the bytes each writes, and a question
   that finds the added document.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import corpus as corpus_gen  # noqa: E402
import updates  # noqa: E402
from machine import machine  # noqa: E402

DIMENSION = 384
TOPIC_DIMENSIONS = 24  # the subspace the topics lie in
VECTORS_PER_TOPIC = 4
NOISE = 0.7  # norm of each vector's own noise, against a unit topic


class Shape:
    """Synthetic vectors with the neighbour structure of real sentence embeddings."""

    def __init__(self, n: int, seed: int = 5) -> None:
        rng = np.random.default_rng(seed)
        basis = rng.normal(size=(TOPIC_DIMENSIONS, DIMENSION)).astype(np.float32)
        self.topics = (
            rng.normal(size=(max(1, n // VECTORS_PER_TOPIC), TOPIC_DIMENSIONS)).astype(np.float32)
            @ basis
        )
        self.topics /= np.linalg.norm(self.topics, axis=1, keepdims=True)

    def draw(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, DIMENSION), dtype=np.float32)
        scale = NOISE / np.sqrt(DIMENSION)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            block = self.topics[rng.integers(0, len(self.topics), m)]
            block += rng.normal(0, scale, size=(m, DIMENSION)).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start : start + m] = block
        return out


def neighbour_profile(queries: np.ndarray, vectors: np.ndarray, lists: int) -> dict:
    """Median cosine of each query's 1st, 10th and 100th neighbour, and recall@10 of an IVF
    index with `lists` lists at nprobe 1, 2, 4 and 8: how hard the data is to search."""
    import faiss

    scores = queries @ vectors.T
    truth = np.argsort(-scores, axis=1)[:, :10]
    scores.sort(axis=1)
    ranked = scores[:, ::-1]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIMENSION), DIMENSION, lists)
    index.metric_type = faiss.METRIC_INNER_PRODUCT
    index.cp.seed = 1
    index.train(vectors)
    index.add(vectors)
    recall = {}
    for nprobe in (1, 2, 4, 8):
        index.nprobe = nprobe
        _, ids = index.search(queries, 10)
        hits = sum(len(set(a) & set(b)) for a, b in zip(ids, truth, strict=True))
        recall[nprobe] = round(hits / truth.size, 3)
    return {
        "cosine_of_neighbour": {
            k: round(float(np.median(ranked[:, k - 1])), 3) for k in (1, 10, 100)
        },
        "ivf_recall_at_nprobe": recall,
    }


def calibrate() -> dict:
    """The synthetic shape against real MiniLM vectors: SciFact questions and abstracts."""
    from assistant import eval as evaluation
    from assistant.embedding import get_embedder

    dataset = evaluation.load_dataset(ROOT.parent / "shared" / "data" / "scifact", "test")
    api = evaluation.open_index(dataset, None, log=print, bar=False)
    real = np.load(api.index.path / "vectors.npy")
    questions = get_embedder().encode(list(dataset.queries.values())[:300])
    lists = round(2 * np.sqrt(len(real)))
    shape = Shape(len(real))
    return {
        "vectors": len(real),
        "ivf_lists": lists,
        "real": neighbour_profile(questions, real, lists),
        "synthetic": neighbour_profile(shape.draw(300, 7), shape.draw(len(real), 6), lists),
    }


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def vector_scale(n: int, queries: int = 300) -> dict:
    import faiss

    from assistant.store import vectors as vector_index

    print(f"  generating {n:,} synthetic vectors ...", flush=True)
    shape = Shape(n)
    vectors = shape.draw(n, 6)
    probes = shape.draw(queries, 7)

    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    times = []
    truth = np.empty((queries, 10), dtype=np.int64)
    for i, q in enumerate(probes):
        start = time.perf_counter()
        _, ids = exact.search(q[None], 10)
        times.append(time.perf_counter() - start)
        truth[i] = ids[0]
    exact_p50 = float(np.median(times) * 1000)
    del exact

    settings = vector_index.VectorIndexSettings()
    print(f"  building the {settings.kind_for(n)} index ...", flush=True)
    start = time.perf_counter()
    index = vector_index.build(vectors, settings)
    build_s = time.perf_counter() - start
    described = vector_index.describe(index)
    with tempfile.TemporaryDirectory(dir=BENCH / "cache") as tmp:
        path = Path(tmp) / "vectors.faiss"
        vector_index.save(index, path)
        np.save(Path(tmp) / "vectors.npy", vectors)  # the store keeps the exact vectors beside
        del index, vectors
        file_bytes = path.stat().st_size
        before = rss_mb()
        start = time.perf_counter()
        matrix = np.load(Path(tmp) / "vectors.npy", mmap_mode="r")
        loaded = vector_index.VectorSearch(vector_index.load(path, settings), matrix, settings)
        load_s = time.perf_counter() - start
        ivf = faiss.extract_index_ivf(loaded.faiss) if described["type"] == "ivf" else None
        sweep = []
        for nprobe in (32, 64, 96, 128, 160, 192, 256) if ivf is not None else (None,):
            if ivf is not None:
                ivf.nprobe = nprobe
            times, hits = [], 0
            for i, q in enumerate(probes):
                start = time.perf_counter()
                _, ids = loaded.search(q[None], 10)
                times.append(time.perf_counter() - start)
                hits += len(set(ids[0]) & set(truth[i]))
            ms = np.array(times) * 1000
            sweep.append(
                {
                    "nprobe": nprobe,
                    "recall_at_10": round(hits / (10 * queries), 4),
                    "search_p50_ms": round(float(np.median(ms)), 3),
                    "search_p95_ms": round(float(np.percentile(ms, 95)), 3),
                }
            )
        rss_after = rss_mb()
        reconstruct_ok = bool(np.isfinite(loaded.reconstruct_batch(np.arange(3))).all())
    chosen = next(s for s in sweep if s["nprobe"] in (settings.nprobe, None))
    return {
        "vectors": n,
        "shape": {
            "topic_dimensions": TOPIC_DIMENSIONS,
            "per_topic": VECTORS_PER_TOPIC,
            "noise": NOISE,
        },
        "index": described,
        "nprobe_default": settings.nprobe if ivf is not None else None,
        "build_s": round(build_s, 1),
        "load_s": round(load_s, 3),
        "file_bytes_per_vector": round(file_bytes / n, 1),  # plus 1,536 in vectors.npy
        "resident_mb_after_load_and_search": round(rss_after - before, 1),
        "exact_search_p50_ms": round(exact_p50, 2),
        "recall_at_10": chosen["recall_at_10"],
        "search_p50_ms": chosen["search_p50_ms"],
        "search_p95_ms": chosen["search_p95_ms"],
        "nprobe_sweep": sweep,
        "reconstruct_works": reconstruct_ok,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def synthetic_index(
    chunks: int, folder: Path, lead_vectors: bool = False
) -> tuple[Path, float | None]:
    """A `chunks`-chunk index in the real layout (generated passages, the real chunker, BM25,
    documents, sentence rows) with synthetic vectors; cached in `folder`. `lead_vectors`: each
    chunk's vector is the model's vector of its first sentence (a few tokens, not the whole
    chunk), so questions find their passage and are answered (highlights included) as with a
    real index. Returns (index dir, build seconds or None when cached)."""
    from assistant.embedding import get_embedder
    from assistant.indexing.build import save_index
    from assistant.indexing.chunking import chunk_document
    from assistant.indexing.files import read_documents
    from assistant.sentences import sentences_of
    from assistant.settings import IndexSettings, ModelSettings
    from assistant.store.sentence_vectors import SentenceVectors

    index_dir = folder / "index"
    key = f"{chunks}-{lead_vectors}-sources-{_format_key()}"
    stamp = folder / "index.key"
    if stamp.is_file() and stamp.read_text() == key:
        return index_dir, None
    print(f"  building a {chunks:,}-chunk index with synthetic vectors ...", flush=True)
    start = time.perf_counter()
    corpus_path, _ = corpus_gen.write(folder, chunks, 200, seed=31)
    embedder = get_embedder()
    settings = IndexSettings.for_model(ModelSettings.of(embedder))
    documents = read_documents(corpus_path, "corpus")
    all_chunks = []
    for doc in documents:
        all_chunks.extend(
            chunk_document(doc, embedder.count_tokens, settings.chunker, first_id=len(all_chunks))
        )
    rng = np.random.default_rng(8)
    if lead_vectors:
        vectors = embedder.encode([c.text.split(". ")[0] for c in all_chunks])
    else:
        vectors = rng.normal(size=(len(all_chunks), DIMENSION)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    counts = [len(sentences_of(c.text)) for c in all_chunks]
    sentence_vectors = rng.normal(size=(sum(counts), DIMENSION)).astype(np.float32)
    sentence_vectors /= np.linalg.norm(sentence_vectors, axis=1, keepdims=True)
    raw = corpus_path.read_bytes()
    source = {  # the corpus file, as `assistant ingest` records it
        "path": str(corpus_path.resolve()), "shown": str(corpus_path),
        "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "id": "corpus",
        "doc_ids": [d.doc_id for d in documents], "same_as": None,
        "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "title": "corpus",
    }  # fmt: skip
    save_index(
        index_dir,
        documents,
        all_chunks,
        vectors,
        SentenceVectors.from_parts(counts, sentence_vectors),
        embedder,
        settings,
        sources=[source],
    )
    stamp.write_text(key)
    return index_dir, time.perf_counter() - start


def cold_start(chunks: int, runs: int = 3) -> dict:
    """A `chunks`-chunk index in the real layout with synthetic vectors, then `assistant ask`."""
    from assistant.store import folder as store

    index_dir, built_s = synthetic_index(chunks, BENCH / "cache" / f"cold-{chunks}")
    manifest = store.read_manifest(index_dir)
    question = "Who founded " + manifest["documents"][len(manifest["documents"]) // 2]["title"]
    question = question.split(" is a ")[0] + "?"
    cli = str(ROOT / ".venv" / "bin" / "assistant")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [cli, "ask", question, "--json", "--index", str(index_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    return {
        "chunks": manifest["counts"]["chunks"],
        "index_build_s": round(built_s, 1) if built_s else None,
        "cold_start_s": round(min(walls), 2),
        "cold_start_runs_s": [round(w, 2) for w in walls],
        "index_mb": round(index_bytes / 2**20, 1),
        "index_bytes_per_chunk": round(index_bytes / manifest["counts"]["chunks"]),
        "question": question,
    }


def _format_key() -> str:
    """What a cached index depends on: the store's format, the chunker and the model."""
    from assistant.embedding import get_embedder
    from assistant.settings import ChunkerSettings, ModelSettings
    from assistant.store.folder import FORMAT_VERSION

    model = ModelSettings.of(get_embedder()).to_dict()
    return json.dumps([FORMAT_VERSION, ChunkerSettings().to_dict(), model], sort_keys=True)


def run(
    vectors: int = 1_000_000, cold_chunks: int = 100_000, update_chunks: int = 100_000,
    runs: int = 3,
) -> dict:  # fmt: skip
    (BENCH / "cache").mkdir(exist_ok=True)
    out = {}
    if vectors:
        print(f"Scale: {vectors:,} vectors", flush=True)
        out["vectors"] = vector_scale(vectors)
    if cold_chunks:
        print(f"Scale: cold start with {cold_chunks:,} chunks", flush=True)
        out["cold"] = {"machine": machine(), **cold_start(cold_chunks)}
    if update_chunks:
        print(f"Scale: small updates of {update_chunks:,} chunks", flush=True)
        base, built_s = synthetic_index(update_chunks, BENCH / "cache" / f"cold-{update_chunks}")
        out["updates"] = updates.small_updates(base, built_s, runs)
    return out


def print_summary(result: dict) -> None:
    v = result.get("vectors")
    if v:
        print(
            f"\nScale, {v['vectors']:,} synthetic vectors, {v['index']}: recall@10 "
            f"{v['recall_at_10']} (nprobe {v['nprobe_default']}), search p50 "
            f"{v['search_p50_ms']} ms / p95 {v['search_p95_ms']} ms (exact: "
            f"{v['exact_search_p50_ms']} ms), build {v['build_s']} s, load {v['load_s']} s, "
            f"{v['file_bytes_per_vector']} bytes/vector on disk, "
            f"{v['resident_mb_after_load_and_search']} MB resident after load+search"
        )
        for s in v["nprobe_sweep"]:
            print(
                f"    nprobe {s['nprobe']}: recall@10 {s['recall_at_10']}, "
                f"p50 {s['search_p50_ms']} ms, p95 {s['search_p95_ms']} ms"
            )
    c = result.get("cold")
    if c:
        print(
            f"Cold start, {c['chunks']:,}-chunk index ({c['index_mb']} MB, "
            f"{c['index_bytes_per_chunk']} bytes/chunk): `assistant ask` start to answer "
            f"{c['cold_start_s']} s (runs {c['cold_start_runs_s']})"
        )
    u = result.get("updates")
    if u:
        print(
            f"Small updates, {u['chunks']:,}-chunk index ({u['segments']} segments, "
            f"{u['index_mb']} MB): `assistant ingest one.txt` {u['add_s']} s, `assistant remove` "
            f"{u['remove_s']} s end to end (best of {len(u['adds'])}; adds {u['adds']}, removes "
            f"{u['removes']}); the added document answers: {u['added_document_found']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--cold-chunks", type=int, default=100_000)
    parser.add_argument("--update-chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="small updates timed (default 3)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="only compare the synthetic vectors' shape with real ones (SciFact)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "scale.json")
    args = parser.parse_args()
    if args.calibrate:
        print(json.dumps(calibrate(), indent=2))
        return
    result = run(args.vectors, args.cold_chunks, args.update_chunks, args.runs)
    kept = json.loads(args.out.read_text()) if args.out.is_file() else {}
    args.out.write_text(json.dumps({**kept, **result}, indent=2) + "\n")
    print_summary(result)


if __name__ == "__main__":
    main()
