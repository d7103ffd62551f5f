import json
import os
import shutil

import numpy as np
import pytest

from assistant import Assistant, ingest
from assistant.default_index import DEFAULT_CORPUS
from assistant.embedding import get_embedder
from assistant.errors import (
    IndexCorruptError,
    IndexIncompatibleError,
    IndexLockedError,
    IndexMissingError,
)
from assistant.store import folder as store
from assistant.store.folder import load_index

from .conftest import DATA, read_jsonl, run_cli


def all_vectors(index) -> np.ndarray:
    vectors = index.vectors.reconstruct_batch(np.arange(index.vectors.ntotal))
    assert np.array_equal(vectors, index.matrix)  # every segment's rows, in order
    return vectors


def test_faiss_equals_brute_force_numpy(assistant):
    index = assistant.index
    vectors = all_vectors(index)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    for row in read_jsonl(DATA / "article_questions.jsonl")[:15]:
        query = assistant._embed_question(row["question"])
        scores, ids = index.vectors.search(query.reshape(1, -1), 5)
        brute = vectors @ query
        expected = np.argsort(-brute, kind="stable")[:5]
        assert np.allclose(scores[0], brute[expected], atol=1e-5)
        assert set(ids[0]) == set(expected) or np.allclose(
            np.sort(scores[0]), np.sort(brute[ids[0]])
        )


def test_faiss_equals_brute_force_on_random_vectors(tmp_path):
    import faiss

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(384)
    flat.add(vectors)
    faiss.write_index(flat, str(tmp_path / "v.faiss"))
    loaded = faiss.read_index(str(tmp_path / "v.faiss"), faiss.IO_FLAG_MMAP)
    queries = rng.normal(size=(20, 384)).astype(np.float32)
    scores, ids = loaded.search(queries, 10)
    brute = queries @ vectors.T
    assert (ids == np.argsort(-brute, axis=1)[:, :10]).all()
    assert np.allclose(scores, np.take_along_axis(brute, ids, axis=1), atol=1e-5)


def test_save_load_round_trip_gives_identical_answers(assistant, article_index, tmp_path, embedder):
    copy = tmp_path / "copy"
    shutil.copytree(article_index, copy)
    reopened = Assistant.open(copy, embedder=embedder)
    for row in read_jsonl(DATA / "article_questions.jsonl")[:10]:
        assert reopened.ask(row["question"]).to_dict() == assistant.ask(row["question"]).to_dict()


def test_manifest_records_what_the_index_was_built_with(article_index):
    manifest = json.loads((article_index / "manifest.json").read_text())
    assert manifest["format_version"] == store.FORMAT_VERSION
    model = {k: manifest["model"][k] for k in ("name", "dimension", "window")}
    assert model == {
        "name": "sentence-transformers/all-MiniLM-L6-v2",
        "dimension": 384,
        "window": 256,
    }
    assert manifest["chunker"]["window"] == 256
    assert "documents" not in manifest  # each segment lists its own (entries.json)...
    assert store.read_manifest(article_index)["documents"][0]["sha256"]  # ...read back in order
    segment = manifest["segments"][0]["name"]
    assert set(manifest["files"]) >= {
        f"{segment}/vectors.npy",
        f"{segment}/chunks.jsonl",
        f"{segment}/documents.jsonl",
        f"{segment}/entries.json",
        "background.npy",
        "bm25_vocab.json",
    }
    assert not [f for f in manifest["files"] if f.endswith((".faiss", ".ivf"))]  # stored once


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format_version", 99, "format version 99"),
        ("model", {"name": "other-model", "dimension": 768, "window": 512}, "other-model"),
        ("chunker", {"name": "fixed", "version": 1}, "chunker settings"),
        ("lexical", {"stopwords": "another-list"}, "lexical settings"),
        ("format", "something-else", "not an index"),
    ],
)
def test_mismatched_manifest_is_refused(article_index, tmp_path, embedder, key, value, message):
    copy = tmp_path / "copy"
    shutil.copytree(article_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest[key] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError, match=message) as error:
        Assistant.open(copy, embedder=embedder)
    assert "assistant ingest" in str(error.value)


def test_damaged_files_are_refused(article_index, tmp_path, embedder):
    copy = tmp_path / "copy"
    shutil.copytree(article_index, copy)
    segment = json.loads((copy / "manifest.json").read_text())["segments"][0]["name"]
    with open(copy / segment / "chunks.jsonl", "a") as handle:
        handle.write("\n")
    with pytest.raises(IndexCorruptError, match="chunks.jsonl"):
        Assistant.open(copy, embedder=embedder)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="manifest.json"):
        Assistant.open(copy, embedder=embedder)
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        Assistant.open(tmp_path / "nowhere", embedder=embedder)


def test_failed_write_leaves_the_old_index_untouched(
    article_index, tmp_path, embedder, monkeypatch
):
    target = tmp_path / "index"
    shutil.copytree(article_index, target)
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("assistant.store.lexical.Vocabulary.save", crash)
    with pytest.raises(OSError, match="disk full"):
        ingest([DEFAULT_CORPUS], target, embedder=embedder, rebuild=True)
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["index"]
    Assistant.open(target, embedder=embedder)


def test_interrupted_swap_is_read_in_place_and_recovered_by_the_next_writer(
    article_index, tmp_path, embedder
):
    target = tmp_path / "index"
    shutil.copytree(article_index, target)
    before = Assistant.open(target, embedder=embedder).ask("Who condemned the PKK?").to_dict()
    os.rename(target, tmp_path / ".index.old-123-456")  # killed between the two renames
    reopened = Assistant.open(target, embedder=embedder)
    assert reopened.ask("Who condemned the PKK?").to_dict() == before
    assert not target.exists()  # a reader renames nothing: it holds no lock
    ingest([DEFAULT_CORPUS], target, embedder=embedder)  # the next writer puts it back
    assert target.is_dir() and not list(tmp_path.glob(".index.old-*"))


def test_a_second_writer_is_refused(article_index, tmp_path, embedder):
    target = tmp_path / "index"
    with store.writer_lock(target), pytest.raises(IndexLockedError, match="Another ingest"):
        ingest([DEFAULT_CORPUS], target, embedder=embedder)
    assert not target.exists()


def test_default_index_is_built_kept_and_repaired_but_user_indexes_are_left_alone(
    tmp_path, embedder
):
    from assistant.default_index import ensure_default_index

    target = tmp_path / "default"
    assert ensure_default_index(target, log=lambda _: None) is True  # missing: built
    assert ensure_default_index(target, log=lambda _: None) is False  # fresh: kept
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["format_version"] = 0
    (target / "manifest.json").write_text(json.dumps(manifest))
    assert ensure_default_index(target, log=lambda _: None) is True  # unloadable: rebuilt
    Assistant.open(target, embedder=embedder)

    mine = tmp_path / "mine"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("My notes\n\nNothing about the article here.")
    ingest([tmp_path / "docs"], mine, embedder=embedder)
    before = (mine / "manifest.json").read_bytes()
    assert ensure_default_index(mine, log=lambda _: None) is False
    assert (mine / "manifest.json").read_bytes() == before


def test_loading_checks_sizes_and_verify_checks_hashes(article_index, tmp_path, embedder):
    """Loading stays fast on big indexes (sizes only); `info --verify` reads every byte."""
    copy = tmp_path / "copy"
    shutil.copytree(article_index, copy)
    chunks = copy / json.loads((copy / "manifest.json").read_text())["segments"][0]["name"]
    chunks /= "chunks.jsonl"
    data = bytearray(chunks.read_bytes())
    at = data.index(b'"text": "') + 12
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")  # same size, other content
    chunks.write_bytes(bytes(data))
    load_index(copy, embedder)  # a plain load does not read the whole file
    with pytest.raises(IndexCorruptError, match="chunks.jsonl"):
        load_index(copy, embedder, verify=True)
    done = run_cli("info", "--index", str(copy), "--verify")
    assert done.returncode == 1 and "chunks.jsonl does not match" in done.stderr
    done = run_cli("info", "--index", str(article_index), "--verify")
    assert done.returncode == 0 and "verified" in done.stderr


def test_chunks_and_documents_are_read_lazily_and_checked_when_read(article_index, tmp_path):
    from assistant.store.jsonl import JsonLines

    index = load_index(article_index, get_embedder())
    segment = index.manifest["segments"][0]["name"]
    parsed = read_jsonl(article_index / segment / "chunks.jsonl")
    assert [c.to_json() for c in index.chunks] == [
        json.dumps({"chunk_id": row, **c}, ensure_ascii=False) for row, c in enumerate(parsed)
    ]
    assert list(index.documents) == [d["doc_id"] for d in index.manifest["documents"]]
    assert index.chunks[1:3] == [index.chunks[1], index.chunks[2]]
    # a damaged line of the same size loads (sizes only) and fails clearly when it is read
    copy = tmp_path / "copy"
    shutil.copytree(article_index, copy)
    data = bytearray((copy / segment / "chunks.jsonl").read_bytes())
    second = data.index(b"\n") + 1
    data[second] = ord("X")  # the second line is no longer JSON
    (copy / segment / "chunks.jsonl").write_bytes(bytes(data))
    damaged = load_index(copy, get_embedder())
    assert damaged.chunks[0] == index.chunks[0]
    with pytest.raises(IndexCorruptError, match="line 2 of chunks.jsonl"):
        damaged.chunks[1]
    (tmp_path / "no-newline.jsonl").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="newline"):
        JsonLines(tmp_path / "no-newline.jsonl", dict)
    (tmp_path / "empty.jsonl").write_text("")
    assert len(JsonLines(tmp_path / "empty.jsonl", dict)) == 0


def test_documents_by_key_refuse_a_line_of_another_document(tmp_path):
    from assistant.store.jsonl import JsonLines, JsonLinesByKey

    (tmp_path / "docs.jsonl").write_text('{"id": "a"}\n{"id": "b"}\n')
    lines = JsonLines(tmp_path / "docs.jsonl", dict)
    by_key = JsonLinesByKey(lines, ["a", "c"], key_of=lambda d: d["id"])
    assert by_key["a"] == {"id": "a"} and "c" in by_key and len(by_key) == 2
    with pytest.raises(ValueError, match="holds 'b', not 'c'"):
        by_key["c"]
    with pytest.raises(ValueError, match="2 lines for 1 entries"):
        JsonLinesByKey(lines, ["a"], key_of=lambda d: d["id"])
    assert lines[-1] == {"id": "b"}
    with pytest.raises(IndexError):
        lines[2]


def test_what_ingest_writes_with_its_own_settings_open_reads_and_uses(tmp_path, embedder):
    from assistant.settings import ChunkerSettings, LexicalSettings

    chunker = ChunkerSettings(window=embedder.window, min_tokens=8, title_prefix=False)
    lexical = LexicalSettings(k1=0.9, b=0.3, fields="chunk-text")
    index_dir = tmp_path / "index"
    ingest([DEFAULT_CORPUS], index_dir, embedder=embedder, chunker=chunker, lexical=lexical)
    opened = Assistant.open(index_dir, embedder=embedder)
    assert opened.index.settings.chunker == chunker and opened.index.settings.lexical == lexical
    assert opened.index.lexical.settings == lexical  # BM25 is read with what it was built with
    assert opened.ask("Who condemned the PKK?").answerable
    report = ingest([DEFAULT_CORPUS], index_dir, embedder=embedder)  # nothing given: kept
    assert not report.written
    assert Assistant.open(index_dir, embedder=embedder).index.settings.chunker == chunker


def test_an_unloadable_new_version_is_tried_once_and_named_until_a_good_one_comes(
    small_index, tmp_path, fake_embedder, monkeypatch
):
    import assistant.answer.assistant as answering

    target = tmp_path / "index"
    shutil.copytree(small_index, target)
    opened = Assistant.open(target, embedder=fake_embedder)
    question = "Who condemned the PKK?"
    before = opened.ask(question, answerable_at=0).to_dict()
    good = (target / "manifest.json").read_text()
    loads = []
    real_load = answering.load_index
    monkeypatch.setattr(
        answering, "load_index", lambda *a, **k: loads.append(1) or real_load(*a, **k)
    )
    broken = json.loads(good)
    broken["format_version"] = 99
    (target / "manifest.json").write_text(json.dumps(broken))  # a new version it cannot read
    for _ in range(3):  # the loaded version answers, and the broken one is not tried again
        assert opened.ask(question, answerable_at=0).to_dict() == before
    assert len(loads) == 1 and "format version 99" in opened.problem
    (target / "manifest.json").write_text(good)  # a good version again
    opened.ask(question)
    assert len(loads) == 2 and opened.problem == ""
    shutil.rmtree(target)
    assert "No index found at" in opened.problem
    assert opened.ask(question, answerable_at=0).to_dict() == before
