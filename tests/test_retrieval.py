"""The ranking against a plain re-statement of its definition, computed by brute force."""

import numpy as np
import pytest

from tests.conftest import DATA, read_jsonl

QUESTIONS = [row["question"] for row in read_jsonl(DATA / "article_questions.jsonl")[:12]]


def reference(index, question, query, mode, depth, within=False):
    """Candidates: the `depth` best by cosine and the `depth` best with BM25 > 0, as the mode
    asks (`within`: every chunk is a candidate and the `depth` best are kept), scored
    cosine + weight * BM25; best first, ties by chunk id."""
    weight = index.settings.retrieval.lexical_weight
    dense = np.asarray(index.matrix, dtype=np.float64) @ query.astype(np.float64)
    lexical = index.lexical.scores(question).astype(np.float64)
    score = {"dense": dense, "bm25": lexical, "hybrid": dense + weight * lexical}[mode]
    chosen = set(range(len(dense))) if within else set()
    if not within and mode != "bm25":
        chosen |= set(np.argsort(-dense, kind="stable")[:depth].tolist())
    if not within and mode != "dense":
        chosen |= {int(i) for i in np.argsort(-lexical, kind="stable")[:depth] if lexical[i] > 0}
    ranked = sorted(chosen, key=lambda i: (-score[i], i))
    if within:
        ranked = [i for i in ranked[:depth] if mode != "bm25" or lexical[i] > 0]
    return ranked, score, float(dense.max())


def assert_same_ranking(got: list[int], expected: list[int], score: np.ndarray) -> None:
    """Equal, but for chunks whose exact scores tie to float32 precision (equal vectors)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e or abs(score[g] - score[e]) < 1e-6, (got, expected)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize("depth", [3, 100])
def test_rank_equals_its_definition(assistant, mode, depth):
    for question in QUESTIONS:
        query = assistant._embed_question(question)
        ranking = assistant.retriever.rank(question, query, mode, depth=depth)
        rows, scores, best = reference(assistant.index, question, query, mode, depth)
        assert_same_ranking([h.chunk.chunk_id for h in ranking.hits], rows, scores)
        np.testing.assert_allclose(
            [h.score for h in ranking.hits], scores[rows], rtol=1e-5, atol=1e-6
        )
        assert ranking.best_dense == pytest.approx(best, abs=1e-5)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_rank_within_documents_equals_its_definition(assistant, mode):
    (doc_id,) = assistant.index.documents  # the article: every chunk is in it
    for question in QUESTIONS[:5]:
        query = assistant._embed_question(question)
        only = frozenset([doc_id])
        ranking = assistant.retriever.rank(question, query, mode, depth=4, documents=only)
        rows, scores, _ = reference(assistant.index, question, query, mode, 4, within=True)
        assert_same_ranking([h.chunk.chunk_id for h in ranking.hits], rows, scores)
