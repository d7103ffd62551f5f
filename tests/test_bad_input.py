"""Bad files in a batch: each gets a clear message, the rest is indexed, the summary lists the
failures, and what the index already held is untouched."""

import os

import pytest

from assistant import Assistant, ingest
from assistant.indexing.sync import list_documents

from .conftest import run_cli
from .fixtures import make_pdf

GOOD = "Garden notes\n\nTomatoes need six hours of sun and water every second day in summer."
KEPT = "Harbour notes\n\nThe harbour master opens the lock gates at high tide, twice a day."

# file name -> (how to make it, words the per-file message must contain)
BAD = {
    "empty.txt": (lambda p: p.write_bytes(b""), "empty"),
    "binary.txt": (lambda p: p.write_bytes(bytes(range(256)) * 40), "binary"),
    "latin1.txt": (lambda p: p.write_bytes("Caf\xe9 cr\xe8me".encode("latin-1")), "not UTF-8"),
    "huge.txt": (lambda p: _fill(p, 50 * 1024 * 1024), "limit"),
    "locked.pdf": (lambda p: make_pdf(p, ["Secret"], password="pw"), "password"),
    "broken.pdf": (lambda p: p.write_bytes(b"%PDF-1.7\n1 0 obj <<\n"), "PDF"),
    "loop.txt": (lambda p: os.symlink(p.name, p), "symlink loop"),
}


def _fill(path, size):
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: 50 MB on disk costs nothing, and it is refused by size


@pytest.fixture
def indexed(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "harbour.txt").write_text(KEPT)
    index_dir = tmp_path / "index"
    ingest([folder], index_dir, embedder=embedder)
    return folder, index_dir


def test_each_bad_file_fails_alone_and_the_index_keeps_what_it_had(indexed, embedder):
    folder, index_dir = indexed
    question = "When are the lock gates opened?"
    before = Assistant.open(index_dir, embedder=embedder).ask(question).to_dict()
    for name, (make, _) in BAD.items():
        make(folder / name)
    (folder / "loopdir").mkdir()
    os.symlink("..", folder / "loopdir" / "up")  # a folder link back up: walked once
    (folder / "garden.txt").write_text(GOOD)
    (folder / "harbour.txt").write_bytes(b"\x00\x01\x02 now binary garbage \x00" * 100)

    report = ingest([folder], index_dir, embedder=embedder)
    messages = {os.path.basename(f.path): f.reason for f in report.failures}
    for name, (_, words) in BAD.items():
        assert words in messages[name], (name, messages.get(name))
    assert "binary" in messages["harbour.txt"]
    assert [os.path.basename(p) for p in report.added] == ["garden.txt"]
    assert [os.path.basename(p) for p in report.kept] == ["harbour.txt"]
    assert any("loopdir" in n and "already walked" in n for n in report.notes)
    assistant = Assistant.open(index_dir, embedder=embedder)
    top = assistant.ask(question).to_dict()["passages"][0]  # the earlier version still answers
    assert (top["text"], top["source"]) == (
        before["passages"][0]["text"],
        before["passages"][0]["source"],
    )
    assert (
        assistant.ask("How much sun do tomatoes need?", k=1)
        .passages[0]
        .text.startswith("Garden notes\n\nTomatoes")
    )
    assert sorted(os.path.basename(d.path) for d in list_documents(index_dir)) == [
        "garden.txt",
        "harbour.txt",
    ]


def test_a_file_that_vanishes_mid_ingest_is_reported_and_the_rest_goes_on(
    indexed, embedder, monkeypatch
):
    from assistant.indexing import sync as api

    folder, index_dir = indexed
    (folder / "garden.txt").write_text(GOOD)
    (folder / "vanishing.txt").write_text("Vanishing notes\n\nHere one moment, gone the next.")
    real = api.read_file_bytes

    def read_and_vanish(path):
        if path.name == "vanishing.txt":
            path.unlink()  # deleted between the folder walk and the read
        return real(path)

    monkeypatch.setattr(api, "read_file_bytes", read_and_vanish)
    report = ingest([folder], index_dir, embedder=embedder)
    assert [(os.path.basename(f.path), f.reason) for f in report.failures] == [
        ("vanishing.txt", "the file disappeared before it could be read")
    ]
    assert [os.path.basename(p) for p in report.added] == ["garden.txt"]


def test_the_cli_prints_each_failure_and_a_summary(indexed):
    folder, index_dir = indexed
    for name in ("empty.txt", "locked.pdf", "huge.txt"):
        BAD[name][0](folder / name)
    (folder / "garden.txt").write_text(GOOD)
    result = run_cli("ingest", str(folder), "--index", str(index_dir))
    assert result.returncode == 1
    for name in ("empty.txt", "locked.pdf", "huge.txt"):
        assert f"error: {folder / name}" in result.stderr or f"{name}:" in result.stderr
    assert "3 file(s) failed" in result.stderr and "The rest was indexed" in result.stderr
    assert "1 added" in result.stdout and "1 unchanged" in result.stdout
    listed = run_cli("list", "--index", str(index_dir))
    assert "garden.txt" in listed.stdout and "harbour.txt" in listed.stdout


def test_nothing_readable_leaves_the_index_as_it_was(indexed, embedder):
    folder, index_dir = indexed
    manifest = (index_dir / "manifest.json").read_bytes()
    bad = folder.parent / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    report = ingest([bad], index_dir, embedder=embedder)
    assert not report.written and len(report.failures) == 1
    assert (index_dir / "manifest.json").read_bytes() == manifest
