"""The vector index: exact below the threshold, IVF above it, recorded in the manifest, mapped
on load; highlights come from the sentence vectors stored at ingest."""

import dataclasses
import json

import faiss
import numpy as np

from assistant import Assistant
from assistant.settings import VectorIndexSettings
from assistant.store import vectors as vector_index
from assistant.store.sentence_vectors import SentenceVectors, SentenceVectorSet
from tests.conftest import DATA, read_jsonl


def clustered(n, seed, centres):
    rng = np.random.default_rng(seed)
    v = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.05, (n, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_the_index_kind_follows_the_threshold():
    settings = VectorIndexSettings(approximate_from=1000)
    assert settings.kind_for(999) == "flat" and settings.kind_for(1000) == "ivf"
    assert VectorIndexSettings().kind_for(150_000) == "flat"
    assert VectorIndexSettings(kind="ivf").kind_for(10) == "ivf"
    rng = np.random.default_rng(0)
    small = rng.normal(size=(50, 384)).astype(np.float32)
    assert isinstance(vector_index.build(small, settings), faiss.IndexFlatIP)


def test_ivf_recall_against_exact_search_and_reload(tmp_path):
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(300, 384)).astype(np.float32)
    vectors, queries = clustered(12_000, 2, centres), clustered(100, 3, centres)
    settings = VectorIndexSettings(approximate_from=10_000, nprobe=16)
    index = vector_index.build(vectors, settings)
    assert vector_index.describe(index)["type"] == "ivf"
    vector_index.save(index, tmp_path / "vectors.faiss")
    loaded = vector_index.load(tmp_path / "vectors.faiss", settings)
    assert faiss.extract_index_ivf(loaded).nprobe == 16
    search = vector_index.VectorSearch(loaded, vectors, settings)
    scores, approximate = search.search(queries, 10)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(approximate, truth, strict=True)])
    assert recall >= 0.95
    # scores are exact cosines of the rows found, best first, though the index holds 8-bit codes
    found = np.einsum("qd,qkd->qk", queries, vectors[approximate])
    np.testing.assert_allclose(scores, found, rtol=1e-5, atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()
    # the hybrid retriever reads the vectors of lexical candidates back, exactly
    assert np.array_equal(search.reconstruct_batch(np.array([0, 11_999])), vectors[[0, 11_999]])


def test_fewer_candidates_than_asked_pad_with_minus_one():
    rng = np.random.default_rng(2)
    vectors = clustered(2_000, 4, rng.normal(size=(40, 384)).astype(np.float32))
    settings = VectorIndexSettings(approximate_from=1_000, nprobe=1, rerank=5)
    search = vector_index.VectorSearch(vector_index.build(vectors, settings), vectors, settings)
    scores, ids = search.search(vectors[:2], 3000)
    assert ids.shape == (2, 3000) and (ids[:, -1] == -1).all() and np.isinf(scores[:, -1]).all()
    assert ids[0, 0] == 0 and ids[1, 0] == 1  # each vector finds itself first


def test_store_records_and_uses_the_vector_index(tmp_path, embedder, monkeypatch):
    from assistant import ingest

    monkeypatch.setattr(VectorIndexSettings, "kind_for", lambda self, n: "ivf")
    index_dir = tmp_path / "index"
    ingest([DATA / "encyclopedia" / "corpus.jsonl"], index_dir, embedder=embedder)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    recorded = manifest["vector_index"]
    assert recorded["type"] == "ivf" and recorded["codes"] == "sq8" and recorded["lists"] > 1
    assistant = Assistant.open(index_dir, embedder=embedder)
    assert faiss.extract_index_ivf(assistant.index.vectors.faiss).nprobe == recorded["nprobe"]
    answer = assistant.ask("Which river flows through four capital cities?")
    assert answer.answerable and "Vienna" in answer.passages[0].text


def test_highlights_use_the_stored_sentence_vectors(assistant, monkeypatch):
    assert isinstance(assistant.index.sentences, SentenceVectorSet)
    question = read_jsonl(DATA / "article_questions.jsonl")[0]["question"]
    expected = assistant.ask(question)
    calls = []
    original = assistant.embedder.encode
    monkeypatch.setattr(
        assistant.embedder, "encode", lambda t, *a, **k: calls.append(t) or original(t, *a, **k)
    )
    answer = assistant.ask(question)
    assert answer.to_dict() == expected.to_dict() and answer.passages
    assert calls == [[question]]  # the question only: no sentence is encoded


def test_an_index_without_sentence_vectors_encodes_the_sentences(assistant):
    bare = Assistant(dataclasses.replace(assistant.index, sentences=None), assistant.embedder)
    for row in read_jsonl(DATA / "article_questions.jsonl")[:5]:
        a, b = assistant.ask(row["question"]), bare.ask(row["question"])
        assert [p.text for p in a.passages] == [p.text for p in b.passages]
        for p in b.passages:
            assert p.text[p.highlight.start : p.highlight.end] == p.highlight.text


def test_sentence_vectors_round_trip_within_quantisation(tmp_path):
    rng = np.random.default_rng(4)
    v = rng.normal(size=(30, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    SentenceVectors.from_parts([10, 0, 20], v).save(tmp_path)
    loaded = SentenceVectors.load(tmp_path, 3)
    back = np.vstack([loaded.of_chunk(0, 10), loaded.of_chunk(2, 20)])
    assert (back * v).sum(axis=1).min() > 0.998
    assert loaded.of_chunk(1, 0).shape == (0, 384) and loaded.of_chunk(2, 19) is None


def test_exact_search_pads_and_breaks_ties_by_id():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[[7, 21, 40]] = vectors[3]  # four copies of one vector
    settings = VectorIndexSettings()
    search = vector_index.VectorSearch(vector_index.build(vectors, settings), vectors, settings)
    assert search.exact
    scores, ids = search.search(vectors[3], 2)
    assert ids[0].tolist() == [3, 7]  # of four equal scores, the lowest ids
    scores, ids = search.search(vectors[:2], 60)
    assert (ids[:, 50:] == -1).all() and np.isinf(scores[:, 50:]).all()
    assert sorted(ids[0, :50].tolist()) == list(range(50))
    brute = vectors[:2] @ vectors.T
    np.testing.assert_allclose(scores[:, :50], -np.sort(-brute, axis=1), rtol=1e-6)


def test_search_over_segments_equals_search_over_one_matrix():
    rng = np.random.default_rng(5)
    vectors = clustered(3_000, 6, rng.normal(size=(60, 384)).astype(np.float32))
    queries = clustered(20, 7, vectors[:60])
    settings = VectorIndexSettings()
    whole = vector_index.VectorSearch(None, vectors, settings)
    parts = [vectors[:1000], vectors[1000:1001], vectors[1001:2500], vectors[2500:]]
    split = vector_index.VectorSearch(None, parts, settings, 384)
    for k in (1, 10, 3000, 3005):
        a, b = whole.search(queries, k), split.search(queries, k)
        assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0], rtol=1e-6)
    rows = np.array([2999, 0, 1000, 1500, 999, 2500])
    assert np.array_equal(split.reconstruct_batch(rows), vectors[rows])
    assert np.array_equal(split.matrix, vectors) and split.ntotal == 3000 and split.exact
    ivf_settings = VectorIndexSettings(approximate_from=1_000, nprobe=8)
    ivf = vector_index.build(parts, ivf_settings)  # built block by block, as a write does
    approximate = vector_index.VectorSearch(ivf, parts, ivf_settings)
    scores, ids = approximate.search(queries, 10)
    truth = whole.search(queries, 10)[1]
    assert np.mean([len(set(a) & set(t)) / 10 for a, t in zip(ids, truth, strict=True)]) > 0.9
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[ids]), rtol=1e-5)


def test_sentence_vectors_of_segments_by_global_chunk_id():
    rng = np.random.default_rng(8)
    v = rng.normal(size=(12, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    a = SentenceVectors.from_parts([2, 3], v[:5])
    b = SentenceVectors.from_parts([4, 0, 3], v[5:])
    joined = SentenceVectorSet([a, b])
    assert np.array_equal(joined.of_chunk(3, 0), b.of_chunk(1, 0))
    assert np.allclose(joined.of_chunk(2, 4), v[5:9], atol=0.01)
    assert joined.of_chunk(4, 3) is not None and joined.of_chunk(5, 1) is None
    taken = SentenceVectors.join([a.take([(1, 2)]), b.take([(0, 1), (2, 3)])])
    assert taken.rows.tolist() == [0, 3, 7, 10]  # chunks of 3, 4 and 3 sentences, as stored
    assert np.array_equal(taken.vectors, np.concatenate([a.vectors[2:5], b.vectors]))
