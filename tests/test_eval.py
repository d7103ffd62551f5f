import json
import math

import pytest

from assistant.errors import DocumentError
from assistant.eval import (
    DatasetError,
    load_dataset,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from assistant.indexing.files import read_documents

from .conftest import DATA, run_cli


def test_ndcg_hand_computed():
    assert ndcg_at_k(["a", "b", "c"], {"b": 1}) == pytest.approx(1 / math.log2(3))
    # two relevant at ranks 1 and 3: (1 + 1/log2 4) / (1 + 1/log2 3)
    assert ndcg_at_k(["a", "b", "c"], {"a": 1, "c": 1}) == pytest.approx(1.5 / 1.6309297535714575)
    # graded: the better document second: (1 + 2/log2 3) / (2 + 1/log2 3)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at_k(["x"] * 10 + ["a"], {"a": 1}, k=10) == 0.0  # rank 11 is past the cut
    assert ndcg_at_k(["a"], {}) == 0.0


def test_recall_and_mrr_hand_computed():
    relevant = {"a": 1, "b": 1, "c": 1, "d": 1, "z": 0}  # relevance 0 is not relevant
    assert recall_at_k(["a", "x", "c"], relevant, 2) == 0.25
    assert recall_at_k(["a", "x", "c", "z"], relevant, 4) == 0.5
    assert mrr_at_k(["x", "z", "c"], relevant) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], relevant, k=10) == 0.0
    assert mrr_at_k(["b"], relevant) == 1.0


def write_beir(folder, corpus, queries, qrels, split="test"):
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    rows = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{s}" for q, d, s in qrels)]
    (folder / "qrels" / f"{split}.tsv").write_bytes("\r\n".join(rows).encode() + b"\r\n")


def test_load_dataset_keeps_judged_queries_only(tmp_path):
    write_beir(
        tmp_path,
        [{"_id": "d1", "title": "T", "text": "x"}],
        [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q3", "text": "3"}],
        [("q1", "d1", 1), ("q3", "d1", 0)],
    )
    data = load_dataset(tmp_path, "test")
    assert data.queries == {"q1": "one"}
    assert data.qrels == {"q1": {"d1": 1}}
    with pytest.raises(DatasetError, match="qrels/train.tsv is missing"):
        load_dataset(tmp_path, "train")


def test_jsonl_collection_documents(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(
        json.dumps({"_id": "7", "title": "Alpha study", "text": "Body one. Two."})
        + "\n\n"
        + json.dumps({"_id": "8", "text": "No title here."})
        + "\n"
        + json.dumps({"_id": "9", "title": "", "text": ""})
        + "\n"
    )
    first, second = read_documents(path, "corpus")
    assert (first.doc_id, first.title, first.text) == (
        "corpus#7",
        "Alpha study",
        "Alpha study\n\nBody one. Two.",
    )
    assert [first.text[s:e] for s, e in first.paragraphs] == ["Alpha study", "Body one. Two."]
    assert (second.doc_id, second.text) == ("corpus#8", "No title here.")
    path.write_text('{"_id": "1", "text": "fine"}\nnot json\n')
    with pytest.raises(DocumentError, match="line 2 is not a JSON object"):
        read_documents(path, "corpus")


@pytest.mark.slow
def test_eval_cli_on_a_small_dataset(tmp_path):
    """`assistant eval` end to end: ingest through the user path, all three rankings, JSON."""
    dataset = DATA / "encyclopedia"
    result = run_cli(
        "eval", str(dataset), "--retriever", "all", "--json", "--index", str(tmp_path / "ix")
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_mode = {r["retriever"]: r for r in report["results"]}
    assert set(by_mode) == {"hybrid", "dense", "bm25"}
    for r in by_mode.values():
        assert r["queries"] == len(load_dataset(dataset, "test").queries)
        assert 0.5 < r["ndcg@10"] <= 1 and r["recall@10"] <= r["recall@100"] <= 1
        # one relevant document per query: 1/log2(rank + 1) >= 1/rank, so nDCG >= MRR
        assert r["ndcg@10"] >= r["mrr@10"] - 1e-9
        assert r["queries_per_second"] > 0
    # the cached index is reused: a second run does not re-index
    again = run_cli("eval", str(dataset), "--retriever", "bm25", "--index", str(tmp_path / "ix"))
    assert again.returncode == 0 and "Indexing" not in again.stderr
    assert f"{by_mode['bm25']['ndcg@10']:.4f}" in again.stdout
    # a cached index this version cannot read (older format) is rebuilt, not an error
    manifest = tmp_path / "ix" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 3', '"format_version": 1'))
    rebuilt = run_cli("eval", str(dataset), "--retriever", "bm25", "--index", str(tmp_path / "ix"))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Indexing" in rebuilt.stderr
    assert f"{by_mode['bm25']['ndcg@10']:.4f}" in rebuilt.stdout


def _dataset(tmp_path, queries: str, qrels: str):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "Some text."}\n')
    (tmp_path / "queries.jsonl").write_text(queries)
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return tmp_path


@pytest.mark.parametrize("line", ["not json", '{"text": "no id"}', '["a list"]', '{"_id": "q1"}'])
def test_a_bad_queries_line_is_named_not_a_traceback(tmp_path, line):
    folder = _dataset(tmp_path, '{"_id": "q0", "text": "fine"}\n' + line + "\n", "q1\td1\t1\n")
    with pytest.raises(DatasetError, match=r"queries.jsonl line 2 is not a JSON object"):
        load_dataset(folder)


def test_a_split_judging_nothing_relevant_is_refused_not_divided_by_zero(tmp_path):
    folder = _dataset(tmp_path, '{"_id": "q1", "text": "a question"}\n', "q1\td1\t0\n")
    with pytest.raises(DatasetError, match="judges no query as relevant"):
        load_dataset(folder)
