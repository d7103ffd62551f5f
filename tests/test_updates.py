"""Small updates: a new version hard-links the segments it keeps, writes only what changed,
and answers exactly as an index built from scratch over the same files; the generic questions'
vectors are computed once per embedder; an index of the older format is refused with the
command that rebuilds it."""

import json
import os

import numpy as np
import pytest

from assistant import Assistant, ingest
from assistant.errors import IndexIncompatibleError
from assistant.fake_embedder import FakeEmbedder
from assistant.indexing import background as generic
from assistant.indexing.sync import remove
from assistant.store import segments
from assistant.store.folder import load_index

TOPICS = ["river", "bread", "moon", "violin", "glacier", "tram", "orchard", "comet"]
QUESTIONS = ["Where does the river flow?", "How is the bread baked?", "glacier ice tram"]


def write_docs(folder, names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.txt").write_text(
            f"Notes on the {name}\n\n"
            + "\n\n".join(
                f"The {name} item {i} mentions {TOPICS[(i + len(name)) % len(TOPICS)]} "
                f"number {i * 7} and the {name} again."
                for i in range(6)
            )
        )


def ranking(index_dir, embedder):
    """Per question, the passages' scores and confidence, and every chunk's BM25 and cosine by
    its text (rows come in another order than in a fresh build, so equal scores may too)."""
    assistant = Assistant.open(index_dir, embedder=embedder)
    index = assistant.index
    out = []
    for q in QUESTIONS:
        a = assistant.ask(q, k=5, answerable_at=0)
        query = embedder.encode([q])[0]
        lexical, dense = index.lexical.scores(q), index.matrix @ query
        by_text = {c.text: (round(float(lexical[i]), 5), round(float(dense[i]), 5))
                   for i, c in enumerate(index.chunks)}  # fmt: skip
        out.append(([round(p.score, 5) for p in a.passages], round(a.confidence, 5), by_text))
    return out


def inodes(index_dir):
    return {
        str(p.relative_to(index_dir)): p.stat().st_ino for p in index_dir.rglob("*") if p.is_file()
    }


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_ROWS", 8)
    monkeypatch.setattr("assistant.indexing.build.SEGMENT_ROWS", 8)
    monkeypatch.setattr("assistant.indexing.build.SMALL_ROWS", 3)


def test_an_update_links_what_it_keeps_and_answers_as_a_fresh_build(
    tmp_path, fake_embedder, small_segments
):
    docs = tmp_path / "docs"
    write_docs(docs, TOPICS[:6])
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert len(manifest["segments"]) == 3  # 3-chunk documents, at most 8 rows a segment
    before = inodes(index_dir)

    write_docs(docs, ["comet"])
    added = ingest([docs / "comet.txt"], index_dir, embedder=fake_embedder)
    assert added.added and added.embedded == 3 and added.reused == 0
    after = inodes(index_dir)
    shared = {name for name in after if before.get(name) == after[name]}
    segment_files = {n for n in before if n.startswith("seg-")}
    assert segment_files <= shared  # every old segment is hard-linked, none rewritten

    removed = remove([docs / "bread.txt"], index_dir, embedder=fake_embedder)
    assert removed.removed and removed.embedded == 0
    after = inodes(index_dir)
    (docs / "bread.txt").unlink()
    (docs / "river.txt").write_text((docs / "river.txt").read_text() + "\n\nA new last line.")
    updated = ingest([docs], index_dir, embedder=fake_embedder)
    assert updated.updated and updated.embedded == 1 and updated.reused == 3
    final = inodes(index_dir)
    rewritten = {n.split("/")[0] for n in final if n.startswith("seg-") and n not in after}
    assert len(rewritten) <= 2  # the river's new segment and the one it left

    fresh = tmp_path / "fresh"
    ingest([docs], fresh, embedder=fake_embedder)
    assert ranking(index_dir, fake_embedder) == ranking(fresh, fake_embedder)
    index, rebuilt = load_index(index_dir, fake_embedder), load_index(fresh, fake_embedder)
    assert sorted(c.text for c in index.chunks) == sorted(c.text for c in rebuilt.chunks)
    assert [c.chunk_id for c in index.chunks] == list(range(len(index.chunks)))
    assert np.array_equal(index.background, rebuilt.background)
    assert np.array_equal(index.background_hits, rebuilt.background_hits)
    for chunk in index.chunks:  # every chunk's text is its document's span
        assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_a_reader_of_the_old_version_keeps_answering_after_updates(
    tmp_path, fake_embedder, small_segments
):
    docs = tmp_path / "docs"
    write_docs(docs, TOPICS[:4])
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    reader = Assistant.open(index_dir, embedder=fake_embedder)
    old = reader.index
    texts = [  # read from the files: the reader has parsed no chunk yet
        json.loads(line)["text"]
        for segment in old.manifest["segments"]
        for line in (index_dir / segment["name"] / "chunks.jsonl").read_text().splitlines()
    ]
    vectors = np.array(old.matrix)
    write_docs(docs, TOPICS[4:6])
    ingest([docs], index_dir, embedder=fake_embedder)
    remove([docs / "bread.txt"], index_dir, embedder=fake_embedder)
    assert not (index_dir / old.manifest["segments"][0]["name"]).exists()  # bread's: rewritten
    assert [c.text for c in old.chunks] == texts  # unlinked or linked on, never changed
    assert np.array_equal(old.matrix, vectors)
    assert reader.ask("Where does the moon item flow?", answerable_at=0).passages


def test_background_vectors_are_computed_once_per_embedder(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    class Counting(FakeEmbedder):
        def encode(self, texts, *args, **kwargs):
            calls.append(len(texts))
            return super().encode(texts, *args, **kwargs)

    questions = len(generic.questions())
    first, key = generic.question_vectors(Counting())
    again, same_key = generic.question_vectors(Counting())
    assert calls == [questions] and same_key == key and np.array_equal(first, again)

    class Int8(Counting):
        fingerprint = "fake/hashed-words int8"

    _, other_key = generic.question_vectors(Int8())
    assert other_key != key and calls == [questions, questions]  # another precision: its own

    docs = tmp_path / "docs"
    write_docs(docs, TOPICS[:2])
    calls.clear()
    ingest([docs], tmp_path / "index", embedder=Counting())
    write_docs(docs, TOPICS[2:3])
    ingest([docs], tmp_path / "index", embedder=Counting())
    assert questions not in calls  # chunks only: the questions came from the cache


def test_an_older_format_is_refused_with_the_command_that_rebuilds_it(tmp_path, fake_embedder):
    docs = tmp_path / "my docs"
    write_docs(docs, TOPICS[:1])
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["format_version"] = 2
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexIncompatibleError) as error:
        load_index(index_dir, fake_embedder)
    message = str(error.value)
    assert "older version of this assistant" in message
    assert f"assistant ingest '{docs}' --rebuild --index {index_dir}" in message
    with pytest.raises(IndexIncompatibleError, match="older"):
        ingest([docs], index_dir, embedder=fake_embedder)  # a plain ingest refuses it too
    ingest([docs], index_dir, embedder=fake_embedder, rebuild=True)
    assert load_index(index_dir, fake_embedder).manifest["format_version"] == 3


def test_an_ivf_index_is_updated_with_its_trained_lists(tmp_path, fake_embedder, monkeypatch):
    from assistant.settings import VectorIndexSettings

    monkeypatch.setattr(VectorIndexSettings, "kind_for", lambda self, n: "ivf")
    docs = tmp_path / "docs"
    write_docs(docs, [f"{t}{i}" for t in TOPICS for i in range(5)])  # 120 chunks, 3 lists
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    first = load_index(index_dir, fake_embedder)
    assert first.vectors.faiss is not None and first.manifest["vector_index"]["type"] == "ivf"
    trains = []
    import faiss

    real = faiss.IndexIVFScalarQuantizer.train
    monkeypatch.setattr(
        faiss.IndexIVFScalarQuantizer, "train", lambda *a: trains.append(1) or real(*a)
    )
    write_docs(docs, ["extra"])
    ingest([docs / "extra.txt"], index_dir, embedder=fake_embedder)
    second = load_index(index_dir, fake_embedder)
    assert trains == [] and second.vectors.ntotal == first.vectors.ntotal + 3
    scores, ids = second.vectors.search(second.matrix[-1], 1)
    assert ids[0][0] == second.vectors.ntotal - 1 and scores[0][0] == pytest.approx(1.0)
    assert os.path.getsize(index_dir / "vectors.ivf") > 0


def test_updates_work_where_the_file_system_has_no_hard_links(tmp_path, fake_embedder, monkeypatch):
    docs = tmp_path / "docs"
    write_docs(docs, TOPICS[:3])
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)

    def no_links(*_args, **_kwargs):
        raise PermissionError("hard links are not allowed here")

    monkeypatch.setattr(os, "link", no_links)
    removed = remove([docs / "bread.txt"], index_dir, embedder=fake_embedder)
    assert removed.removed
    index = load_index(index_dir, fake_embedder)
    assert "bread" not in {c.doc_id for c in index.chunks}
    assert ranking(index_dir, fake_embedder)


@pytest.mark.slow  # the CLI is a process
def test_an_index_is_searched_and_updated_with_the_precision_it_was_built_with(
    tmp_path, monkeypatch
):
    """A float32 index (every index made before int8 existed) keeps working by default: the
    Python API, an ingest into it and the CLI all pick its own precision."""
    from assistant import embedding
    from tests.conftest import run_cli

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "fake")
    monkeypatch.delenv("ASSISTANT_PRECISION", raising=False)
    monkeypatch.setattr(embedding, "_shared", {})  # the fake models stay in this test
    docs = tmp_path / "docs"
    write_docs(docs, TOPICS[:3])
    index_dir = tmp_path / "index"
    ingest([docs / "river.txt", docs / "bread.txt"], index_dir, embedder=FakeEmbedder("float32"))
    assert "precision" not in json.loads((index_dir / "manifest.json").read_text())["model"]

    assistant = Assistant.open(index_dir)
    assert assistant.embedder.precision == "float32"
    assert assistant.ask(QUESTIONS[0]).passages
    ingest([docs / "moon.txt"], index_dir)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert "precision" not in manifest["model"] and manifest["counts"]["documents"] == 3
    asked = run_cli("ask", QUESTIONS[0], "--json", "--index", str(index_dir))
    assert asked.returncode == 0 and json.loads(asked.stdout)["passages"], asked.stderr

    ingest([docs], index_dir, rebuild=True)  # a rebuild takes today's default
    assert json.loads((index_dir / "manifest.json").read_text())["model"]["precision"] == "int8"
