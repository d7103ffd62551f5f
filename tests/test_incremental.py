"""Incremental ingest: only changed files are re-embedded, vanished ones leave, copies count once,
failures are per file and leave the rest (and the existing index) intact; a running Assistant
picks up each new version."""

import json
import os
import shutil
import threading

import numpy as np
import pytest

from assistant import Assistant, ingest
from assistant.errors import InvalidArgumentError
from assistant.indexing.sync import list_documents, remove
from assistant.store import folder as store

from .fixtures import make_pdf

RIVER = (
    "Rivers of Europe\n\nThe Danube flows through ten countries and four capital cities before "
    "it reaches the Black Sea.\n\nThe Rhine carries more barge traffic than any other river on "
    "the continent, linking Switzerland to Rotterdam."
)
BAKERY = (
    "Bakery notes\n\nSourdough needs a starter that is fed with flour and water every day.\n\n"
    "The oven must be preheated to 250 degrees for a crisp crust."
)


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "rivers.txt").write_text(RIVER)
    (folder / "sub" / "bakery.md").write_text(BAKERY)
    make_pdf(folder / "report.pdf", ["The lighthouse keeper logged 312 ships in 1887."], "Log")
    return folder


def rows_by_text(index_dir, embedder):
    index = Assistant.open(index_dir, embedder=embedder).index
    return {c.text: np.array(index.matrix[i]) for i, c in enumerate(index.chunks)}


def test_reingest_only_embeds_what_changed(docs, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    first = ingest([docs], index_dir, embedder=fake_embedder)
    assert sorted(first.added) and len(first.added) == 3 and not first.failures
    assert first.embedded == first.chunks and first.written
    before = rows_by_text(index_dir, fake_embedder)
    manifest = (index_dir / "manifest.json").read_bytes()

    again = ingest([docs], index_dir, embedder=fake_embedder)
    assert not again.written and len(again.unchanged) == 3 and again.embedded == 0
    assert (index_dir / "manifest.json").read_bytes() == manifest  # nothing rewritten

    (docs / "rivers.txt").write_text(RIVER.replace("ten countries", "ten European countries"))
    (docs / "sub" / "bakery.md").unlink()
    third = ingest([docs], index_dir, embedder=fake_embedder)
    assert [os.path.basename(p) for p in third.updated] == ["rivers.txt"]
    assert [os.path.basename(p) for p in third.removed] == ["bakery.md"]
    assert third.embedded == 1  # only the edited paragraph's chunk
    after = rows_by_text(index_dir, fake_embedder)
    assert not any("Sourdough" in text for text in after)
    for text, vector in after.items():
        if text in before:
            assert np.array_equal(vector, before[text])  # reused row, bit for bit
    assistant = Assistant.open(index_dir, embedder=fake_embedder)
    assert not assistant.ask("How do I make sourdough bread with a starter?").answerable
    answer = assistant.ask("How many countries does the Danube flow through?", k=1)
    assert "ten European countries" in answer.passages[0].text


def test_other_documents_stay_and_rebuild_starts_over(docs, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    other = tmp_path / "other"
    other.mkdir()
    (other / "moon.txt").write_text("Moon landing\n\nApollo 11 landed on the Moon in July 1969.")
    report = ingest([other], index_dir, embedder=fake_embedder)
    assert len(report.added) == 1 and not report.removed
    assert len(list_documents(index_dir)) == 4
    rebuilt = ingest([other], index_dir, embedder=fake_embedder, rebuild=True)
    assert [d.shown for d in list_documents(index_dir)] == rebuilt.added


def test_identical_files_are_indexed_once_and_a_copy_takes_over(docs, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    shutil.copy(docs / "rivers.txt", docs / "rivers-copy.txt")
    report = ingest([docs], index_dir, embedder=fake_embedder)
    assert len(report.duplicates) == 1 and "rivers" in report.duplicates[0]
    index = Assistant.open(index_dir, embedder=fake_embedder).index
    assert sum("Danube" in c.text for c in index.chunks) == 1
    listed = {os.path.basename(d.path): d for d in list_documents(index_dir)}
    pair = [listed["rivers.txt"], listed["rivers-copy.txt"]]
    indexed, copy = sorted(pair, key=lambda d: bool(d.same_as))
    assert copy.same_as == indexed.path and copy.chunks == 0 and indexed.chunks > 0
    assert copy.title == "Rivers of Europe"

    removed = remove([indexed.path], index_dir, embedder=fake_embedder)
    assert removed.embedded == 0 and removed.removed == [indexed.shown]
    listed = {d.path: d for d in list_documents(index_dir)}
    assert indexed.path not in listed and listed[copy.path].chunks > 0
    answer = Assistant.open(index_dir, embedder=fake_embedder).ask(
        "Where does the Danube end?", k=1
    )
    assert answer.passages[0].source.path == copy.shown
    with pytest.raises(InvalidArgumentError, match="assistant list"):
        remove([docs / "nothing-here.txt"], index_dir, embedder=fake_embedder)


def test_list_shows_title_path_chunks_and_when(docs, tmp_path, embedder):
    from .conftest import run_cli

    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=embedder)
    listed = list_documents(index_dir)
    assert {d.title for d in listed} == {"Rivers of Europe", "Bakery notes", "Log"}
    assert all(d.chunks >= 1 and d.indexed_at[:2] == "20" and os.path.isabs(d.path) for d in listed)
    result = run_cli("list", "--json", "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["title"] for line in result.stdout.splitlines()] == [
        d.title for d in listed
    ]


def test_a_running_assistant_answers_during_an_ingest_and_picks_up_the_new_version(
    docs, tmp_path, embedder
):
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=embedder)
    assistant = Assistant.open(index_dir, embedder=embedder)
    question = "When did Apollo 11 land on the Moon?"
    assert not assistant.ask(question).answerable
    old_version = assistant.index
    errors, answers, stop = [], [], threading.Event()

    def keep_asking():
        while not stop.is_set():
            try:
                answers.append(assistant.ask("Where does the Danube end?", k=1))
            except Exception as exc:  # noqa: BLE001 - any failure is what the test looks for
                errors.append(exc)

    thread = threading.Thread(target=keep_asking)
    thread.start()
    try:
        (docs / "moon.txt").write_text("Moon landing\n\nApollo 11 landed on the Moon in July 1969.")
        ingest([docs], index_dir, embedder=embedder)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert errors == [] and answers
    assert all("Black Sea" in a.passages[0].text for a in answers)
    answer = assistant.ask(question, k=1)
    assert assistant.index is not old_version
    assert answer.answerable and "July 1969" in answer.passages[0].text
    assert store.version_of(index_dir) is not None
