"""Checks the eval harness against MTEB's published all-MiniLM-L6-v2 figure on SciFact test.

    python scripts/reproduce_mteb_dense.py ../shared/data/scifact [--split test]

MTEB embeds each document as "title text", truncated to the model's 256 tokens, and ranks by
cosine. Done the same way with this project's metric code, the result should be 0.645 nDCG@10.
`assistant eval --retriever dense` scores higher because ingest chunks whole abstracts instead
of cutting them off at 256 tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.embedding import get_embedder  # noqa: E402
from assistant.eval import load_dataset, ndcg_at_k, recall_at_k  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    data = load_dataset(args.dataset, args.split)
    records = [json.loads(line) for line in data.corpus.read_text(encoding="utf-8").splitlines()]
    embedder = get_embedder()
    documents = embedder.encode([f"{r.get('title', '')} {r['text']}".strip() for r in records])
    qids = list(data.queries)
    scores = embedder.encode([data.queries[q] for q in qids]) @ documents.T
    top = np.argsort(-scores, axis=1)[:, :100]
    ranked = [[str(records[i]["_id"]) for i in row] for row in top]
    ndcg = np.mean([ndcg_at_k(r, data.qrels[q], 10) for r, q in zip(ranked, qids, strict=True)])
    recall = np.mean(
        [recall_at_k(r, data.qrels[q], 100) for r, q in zip(ranked, qids, strict=True)]
    )
    print(f"MTEB protocol, {data.name} {args.split}: nDCG@10 {ndcg:.4f}, Recall@100 {recall:.4f}")


if __name__ == "__main__":
    main()
