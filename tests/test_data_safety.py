"""Data safety on the write path: an index is only ever written over one of ours, and an ingest
reads regular files only, within bounds, never its own index or the running system's files."""

import json
import os
import time
from pathlib import Path

import pytest

from assistant import ingest, remove
from assistant.default_index import ensure_default_index
from assistant.errors import AssistantError, DocumentError, IndexPathError
from assistant.indexing import formats as formats
from assistant.indexing.files import walk
from assistant.store import folder as store
from assistant.store.folder import load_index

from .conftest import ROOT, run_cli
from .fixtures import make_pdf_bomb

GARDEN = "Garden notes\n\nTomatoes need six hours of sun and water every second day in summer."
HARBOUR = "Harbour notes\n\nThe harbour master opens the lock gates at high tide, twice a day."


def cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 180):
    """The real command, `env` added to this environment, with a timeout: a hang fails."""
    return run_cli(*args, cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` (hidden ones too), with the bytes of each file."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def user_folder(path: Path, manifest: dict | None = None) -> Path:
    path.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (path / name).write_text(f"keep {name}\n")
    if manifest is not None:
        (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["folder", "folder --rebuild", "manifest", "file", "documents", "dot"]
)
def test_ingest_never_writes_an_index_over_what_is_not_one(tmp_path, case):
    (tmp_path / "doc.txt").write_text(GARDEN)
    target = tmp_path / "notes"
    if case == "file":
        target.write_text("keep\n")
    else:
        user_folder(target, {"format": "other-program"} if case == "manifest" else None)
    paths, index = [str(tmp_path / "doc.txt")], str(target)
    if case == "documents":  # assistant ingest docs --index docs
        paths = [str(target)]
    if case == "dot":  # the working folder: not empty, so refused (no EBUSY)
        target, index = tmp_path, "."
    before = snapshot(tmp_path)

    done = cli("ingest", *paths, "--index", index, *case.split()[1:], cwd=tmp_path, timeout=60)

    assert done.returncode == 1, done.stderr
    assert f"Cannot write an index to {target}" in done.stderr
    assert "Nothing was changed" in done.stderr and "empty or new folder" in done.stderr
    if case == "file":
        assert "it is a file" in done.stderr
    else:
        named = "doc.txt, notes" if case == "dot" else "a.txt, b.txt, c.txt"
        assert f"files or folders (e.g. {named})" in done.stderr
    assert "--rebuild" not in done.stderr and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before  # not even a lock file


@pytest.mark.slow
def test_ask_with_assistant_index_on_a_user_folder_leaves_it_alone(tmp_path):
    notes = user_folder(tmp_path / "notes", {"format": "other-program", "files": {}})
    before = snapshot(tmp_path)
    done = cli("ask", "Who condemned the PKK?", env={"ASSISTANT_INDEX": str(notes)}, timeout=60)
    assert done.returncode == 1
    assert f"Cannot write an index to {notes}" in done.stderr and "a.txt" in done.stderr
    assert "--rebuild" not in done.stderr and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before


def test_default_index_and_remove_refuse_a_user_folder(tmp_path):
    notes = user_folder(tmp_path / "notes", {"format": "other-program"})
    with pytest.raises(IndexPathError, match="a.txt"):
        ensure_default_index(notes, log=lambda _: None)
    with pytest.raises(IndexPathError, match="a.txt"):
        remove([tmp_path / "notes" / "a.txt"], notes)
    (notes / "manifest.json").unlink()
    with pytest.raises(AssistantError, match="No index found .* holds other things"):
        remove([tmp_path / "notes" / "a.txt"], notes)
    (tmp_path / "link").symlink_to(notes)
    with pytest.raises(IndexPathError, match="is a link"):
        store.check_index_path(tmp_path / "link")
    assert snapshot(notes) == snapshot(user_folder(tmp_path / "copy"))
    store.check_index_path(tmp_path / "new")  # a new path and an empty folder are fine
    (tmp_path / "empty").mkdir()
    store.check_index_path(tmp_path / "empty")


@pytest.mark.slow
def test_files_dropped_into_an_index_are_never_deleted(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text(GARDEN)
    index_dir = tmp_path / "index"
    index_dir.mkdir()  # an empty folder is fine to use
    ingest([docs], index_dir, embedder=embedder)
    (index_dir / "mine.txt").write_text("my own notes\n")
    (index_dir / "seg-000001" / "extra.txt").write_text("more\n")
    before = snapshot(index_dir)

    for write in (
        lambda: ingest([docs], index_dir, embedder=embedder, rebuild=True),
        lambda: remove([docs / "garden.txt"], index_dir, embedder=embedder),
    ):
        with pytest.raises(IndexPathError, match="mine.txt, seg-000001/extra.txt") as error:
            write()
        assert "Move them out" in str(error.value)
    assert snapshot(index_dir) == before
    load_index(index_dir, embedder)  # still a working index

    (index_dir / "mine.txt").rename(tmp_path / "mine.txt")
    (index_dir / "seg-000001" / "extra.txt").unlink()
    (docs / "harbour.txt").write_text(HARBOUR)
    assert ingest([docs], index_dir, embedder=embedder).added[0].endswith("harbour.txt")


@pytest.mark.slow
def test_special_files_and_links_are_never_read(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text(GARDEN)
    os.mkfifo(docs / "pipe.txt")  # opening it to read would wait for a writer forever
    (docs / "dev.txt").symlink_to("/dev/zero")
    (docs / "proc").symlink_to("/proc/self")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    index_dir = tmp_path / "index"

    done = cli("ingest", str(docs), str(tmp_path / "zero.txt"), "--index", str(index_dir))

    assert done.returncode == 1 and "1 added" in done.stdout, done.stderr
    assert "pipe.txt: not a regular file (a FIFO, a named pipe)" in done.stderr
    assert "zero.txt: not a regular file (a character device)" in done.stderr
    assert "only regular files are read" in done.stderr and "broken link" not in done.stderr
    assert f"skipped {docs / 'dev.txt'}: a link into /dev" in done.stderr
    assert f"skipped {docs / 'proc'}: it leads into /proc" in done.stderr

    proc = cli("ingest", "/proc/self", "--index", str(tmp_path / "other"), timeout=60)
    assert proc.returncode == 1
    assert "/proc/self: this is in /proc, the running system's own files" in proc.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_an_index_inside_the_ingested_folder_is_not_read_as_documents(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text(GARDEN)
    index_dir = docs / "index"
    counts = []
    for _ in range(3):
        done = cli("ingest", str(docs), "--index", str(index_dir))
        assert done.returncode == 0, done.stderr
        counts.append(json.loads((index_dir / "manifest.json").read_text())["counts"])
        (docs / "index.feedback.jsonl").write_text('{"question": "q", "vote": 1}\n')
    assert counts[0] == counts[1] == counts[2] == {"documents": 1, "chunks": 1}
    assert f"skipped {index_dir}: an index folder" in done.stderr
    assert "index.feedback.jsonl: the chat's votes" in done.stderr
    assert "Traceback" not in done.stderr


def test_walk_skips_links_into_system_trees_and_refuses_them_given(tmp_path):
    (tmp_path / "root").symlink_to("/")
    (tmp_path / "self").symlink_to("/proc/self")
    (tmp_path / "kernel.txt").symlink_to("/proc/version")
    found = walk([tmp_path, "/sys/kernel", "/dev/null"])
    assert found.files == []
    notes = "\n".join(found.notes)
    assert "root: a link to a folder that holds this one" in notes
    assert "self: it leads into /proc" in notes and "kernel.txt: a link into /proc" in notes
    assert [(f.path, f.reason.split(";")[0]) for f in found.failures] == [
        ("/sys/kernel", "this is in /sys, the running system's own files"),
        ("/dev/null", "not a regular file (a character device)"),
    ]


@pytest.mark.slow
def test_a_pdf_bomb_fails_fast_alone_and_releases_the_lock(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text(GARDEN)
    make_pdf_bomb(docs / "bomb.pdf")  # 20 KB: 100 pages x 480,000 characters
    make_pdf_bomb(docs / "dense.pdf", repeats=200_000)  # 2.4 million characters per page
    index_dir = tmp_path / "index"

    started = time.monotonic()
    report = ingest([docs], index_dir, embedder=embedder)
    assert time.monotonic() - started < 20

    reasons = {os.path.basename(f.path): f.reason for f in report.failures}
    assert reasons["bomb.pdf"].startswith("the PDF holds over 20,971,520 characters of text")
    assert reasons["dense.pdf"].startswith("page 1 of 100 shows over 1,000,000 characters")
    assert [os.path.basename(p) for p in report.added] == ["garden.txt"]
    (docs / "harbour.txt").write_text(HARBOUR)
    done = cli("ingest", str(docs / "harbour.txt"), "--index", str(index_dir))
    assert done.returncode == 0 and "1 added" in done.stdout, done.stderr


def test_pdf_page_count_and_time_are_bounded(tmp_path, monkeypatch):
    raw = make_pdf_bomb(tmp_path / "bomb.pdf", pages=20, repeats=10).read_bytes()
    monkeypatch.setattr(formats, "MAX_PDF_PAGES", 10)
    with pytest.raises(DocumentError, match="has 20 pages; the limit is 10"):
        formats.read_pdf(raw, "bomb.pdf")
    monkeypatch.setattr(formats, "MAX_PDF_PAGES", 5_000)
    monkeypatch.setattr(formats, "MAX_PDF_SECONDS", 0)
    with pytest.raises(DocumentError, match=r"took over 0 s \(stopped at page 1 of 20\)"):
        formats.read_pdf(raw, "bomb.pdf")


def test_a_place_where_nothing_can_be_created_gives_a_clear_error(tmp_path):
    (tmp_path / "doc.txt").write_text(GARDEN)
    with pytest.raises(IndexPathError, match="cannot create files in .*doc.txt"):
        ingest([tmp_path / "doc.txt"], tmp_path / "doc.txt" / "index")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
@pytest.mark.slow
def test_a_read_only_place_gives_a_clear_error(tmp_path, embedder):
    (tmp_path / "doc.txt").write_text(GARDEN)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(IndexPathError, match="cannot create files in"):
            ingest([tmp_path / "doc.txt"], locked / "index", embedder=embedder)
    finally:
        locked.chmod(0o755)
