"""Tunes retrieval on the SciFact *train* split (never test) and prints every setting tried.

    python scripts/tune_scifact.py ../shared/data/scifact

It reuses the index `assistant eval` caches (building it if needed), scores every train query
against every chunk once per BM25 setting, and then compares fusion methods and their
parameters on nDCG@10 and Recall@100, with documents scored as their best chunk, exactly as
`assistant eval` does. The winners are the defaults in assistant/lexical.py and
assistant/retrieval.py.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.eval import load_dataset, ndcg_at_k, open_index, recall_at_k  # noqa: E402
from assistant.settings import LexicalSettings  # noqa: E402
from assistant.store.lexical import LexicalIndex, lexical_text  # noqa: E402


def document_metrics(chunk_scores: np.ndarray, doc_starts, doc_ids, qrels, qids) -> tuple:
    """Mean nDCG@10 and Recall@100 when each document scores as its best chunk."""
    doc_scores = np.maximum.reduceat(chunk_scores, doc_starts, axis=1)
    top = np.argsort(-doc_scores, axis=1, kind="stable")[:, :100]
    ndcg = recall = 0.0
    for row, qid in enumerate(qids):
        ranked = [doc_ids[i] for i in top[row]]
        ndcg += ndcg_at_k(ranked, qrels[qid], 10)
        recall += recall_at_k(ranked, qrels[qid], 100)
    return ndcg / len(qids), recall / len(qids)


def restrict(scores: np.ndarray, *rankings: np.ndarray, depth: int) -> np.ndarray:
    """Scores of chunks outside every ranking's top `depth` become -inf (not candidates)."""
    keep = np.zeros(scores.shape, dtype=bool)
    for ranking in rankings:
        top = np.argpartition(-ranking, depth - 1, axis=1)[:, :depth]
        np.put_along_axis(keep, top, True, axis=1)
    return np.where(keep, scores, -np.inf)


def ranks(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")
    result = np.empty_like(order)
    np.put_along_axis(result, order, np.arange(scores.shape[1])[None, :], axis=1)
    return result + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    args = parser.parse_args()

    data = load_dataset(args.dataset, args.split)
    assistant = open_index(data, None, log=print, bar=True)
    index = assistant.index
    qids = list(data.queries)
    chunks = index.chunks
    doc_ids, doc_starts = [], []
    for i, c in enumerate(chunks):
        if not doc_ids or c.doc_id.partition("#")[2] != doc_ids[-1]:
            doc_ids.append(c.doc_id.partition("#")[2])
            doc_starts.append(i)
    assert len(set(doc_ids)) == len(doc_ids), "chunks of a document must be contiguous"

    started = time.perf_counter()
    queries = assistant.embedder.encode([data.queries[q] for q in qids])
    vectors = np.asarray(index.matrix, dtype=np.float32)
    dense = queries @ vectors.T
    print(f"{len(qids)} {args.split} queries, {len(chunks)} chunks, {len(doc_ids)} documents")

    def metrics(scores: np.ndarray) -> tuple[float, float]:
        return document_metrics(scores, doc_starts, doc_ids, data.qrels, qids)

    print("dense only: nDCG@10 {:.4f}  R@100 {:.4f}".format(*metrics(dense)))
    lexical_by_setting = {}
    for k1, b, fields in itertools.product(
        (0.6, 0.9, 1.2, 1.5), (0.3, 0.4, 0.6, 0.75, 0.9), ("chunk-text", "title+chunk-text")
    ):
        settings = LexicalSettings(k1=k1, b=b, fields=fields)
        texts = [lexical_text(c.title, c.text, settings) for c in chunks]
        lexical = LexicalIndex.build(texts, settings)
        scores = np.stack([lexical.scores(data.queries[q]) for q in qids])
        lexical_by_setting[(k1, b, fields)] = (scores, *metrics(scores))
        ndcg, recall = metrics(scores)
        print(f"bm25 k1={k1} b={b} {fields:<17} nDCG@10 {ndcg:.4f}  R@100 {recall:.4f}")

    best_lexical = sorted(lexical_by_setting, key=lambda key: -lexical_by_setting[key][1])[:4]
    print(f"\nfusion with the 4 best BM25 settings: {best_lexical}")
    results = []
    for key in best_lexical:
        lexical = lexical_by_setting[key][0]
        for depth in (100, 1000):
            dense_c = restrict(dense, dense, lexical, depth=depth)
            lexical_c = restrict(lexical, dense, lexical, depth=depth)
            for weight in (0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0):
                fused = dense_c + weight * lexical_c
                results.append(("score", key, depth, weight, *metrics(fused)))
            for weight in (0.5, 1.0, 1.5):
                fused = minmax(dense_c) + weight * minmax(lexical_c)
                results.append(("minmax", key, depth, weight, *metrics(fused)))
            for k in (10, 30, 60):
                fused = 1 / (k + ranks(dense)) + 1 / (k + ranks(lexical))
                fused = restrict(fused, dense, lexical, depth=depth)
                results.append((f"rrf k={k}", key, depth, 1.0, *metrics(fused)))
    results.sort(key=lambda r: -r[4])
    for method, key, depth, weight, ndcg, recall in results[:25]:
        print(
            f"{method:<9} bm25={key} depth={depth:<5} w={weight:<4} "
            f"nDCG@10 {ndcg:.4f}  R@100 {recall:.4f}"
        )
    best = {}
    for r in results:
        best.setdefault(r[0], r)
    print("\nbest of each method:")
    for method, key, depth, weight, ndcg, recall in best.values():
        print(
            f"{method:<9} bm25={key} depth={depth:<5} w={weight:<4} "
            f"nDCG@10 {ndcg:.4f}  R@100 {recall:.4f}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


def minmax(x: np.ndarray) -> np.ndarray:
    """Each query's candidate scores mapped to 0..1 (non-candidates stay -inf)."""
    finite = np.where(np.isfinite(x), x, np.nan)
    lo = np.nanmin(finite, axis=1, keepdims=True)
    hi = np.nanmax(finite, axis=1, keepdims=True)
    return np.where(np.isfinite(x), (x - lo) / np.maximum(hi - lo, 1e-9), -np.inf)


if __name__ == "__main__":
    main()
