"""Ingest progress: the stages ingest reports, the CLI's bar on a terminal and plain lines
elsewhere, and the Documents panel's status while an upload is being indexed."""

import io
import os
import re
import subprocess
import sys

import pytest

from assistant import Assistant, ingest
from assistant.indexing.progress import Step, duration
from assistant.indexing.sync import remove
from assistant.terminal import ProgressDisplay
from assistant.web import uploads as uploads_module
from assistant.web.uploads import DocumentQueue

from .conftest import CLI, ROOT


def write_docs(folder, n):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"note-{i}.txt").write_text(
            f"Note {i}\n\n"
            + "\n\n".join(f"Paragraph {j} of note {i} about item {j}." for j in range(3))
        )


def test_ingest_reports_reading_embedding_and_writing(tmp_path, fake_embedder):
    docs = tmp_path / "docs"
    write_docs(docs, 5)
    steps: list[Step] = []
    report = ingest([docs], tmp_path / "index", embedder=fake_embedder, on_step=steps.append)
    stages = {}
    for step in steps:
        stages.setdefault(step.stage, []).append(step)
    assert list(stages) == ["reading", "embedding", "writing"]
    assert [s.done for s in stages["reading"]] == [0, 1, 2, 3, 4, 5]
    assert all(s.total == 5 for s in stages["reading"])
    embedding = stages["embedding"]
    assert embedding[0].done == 0 and embedding[-1].done == embedding[-1].total == report.embedded
    assert [s.done for s in stages["writing"]] == [0, 1]
    assert all(a.elapsed <= b.elapsed for a, b in zip(embedding, embedding[1:], strict=False))

    removed: list[Step] = []
    remove(
        [docs / "note-0.txt"], tmp_path / "index", embedder=fake_embedder, on_step=removed.append
    )
    assert [(s.stage, s.done) for s in removed] == [("writing", 0), ("writing", 1)]


def test_a_step_says_count_rate_and_time_left():
    step = Step("embedding", 500, 2000, 5.0)
    assert step.rate == 100 and step.left == 15
    assert step.describe() == "embedding 500/2,000 chunks (25%), 100 chunks/s, about 15 s left"
    assert Step("reading", 3, 3, 2.0).describe() == "reading 3/3 files (100%), 2 files/s, 2.0 s"
    assert Step("embedding", 0, 10, 0.0).left is None
    assert duration(75) == "1 min 15 s" and duration(3 * 3600 + 120) == "3 h 02 min"


def test_the_terminal_gets_one_redrawn_bar_per_stage():
    out = io.StringIO()
    show = ProgressDisplay(out, tty=True)
    for done in range(0, 101, 10):
        show(Step("embedding", done, 100, done * 0.02))
    show(Step("writing", 0, 1, 0.0))
    show(Step("writing", 1, 1, 0.3))
    text = out.getvalue()
    lines = text.split("\n")
    assert len(lines) == 3 and lines[-1] == ""  # two stages, each ended by one newline
    assert lines[0].count("\r\x1b[K") >= 3  # redrawn in place, at most every 0.1 s
    last = lines[0].rsplit("\r\x1b[K", 1)[1]
    assert last.startswith("embedding ████") and "100/100 chunks (100%)" in last
    assert "chunks/s" in last


def test_a_log_gets_plain_lines_only_for_long_stages():
    out = io.StringIO()
    show = ProgressDisplay(out, tty=False)
    for done in range(0, 11):  # a 1 s stage: nothing
        show(Step("embedding", done, 10, done * 0.1))
    assert out.getvalue() == ""
    for done in range(0, 61):  # a 60 s stage: a line every 10 s or so, and its end
        show(Step("reading", done, 60, float(done)))
    lines = out.getvalue().splitlines()
    assert 5 <= len(lines) <= 8 and lines[-1].startswith("reading 60/60 files (100%)")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert re.match(r"reading \d+/60 files \(\d+%\), 1 files/s, about \d+ s left", lines[0])


def test_the_documents_panel_shows_an_upload_being_indexed(tmp_path, fake_embedder, monkeypatch):
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=fake_embedder)
    assistant = Assistant.open(index_dir, embedder=fake_embedder)
    queue = DocumentQueue(assistant, tmp_path / "uploads", worker=False)
    seen = []
    real_ingest = uploads_module.ingest

    def ingest_and_poll(*args, on_step=None, **kwargs):
        def step(s):
            on_step(s)
            seen.append(queue.status("page")[0])  # what the page's polling shows meanwhile

        return real_ingest(*args, on_step=step, **kwargs)

    monkeypatch.setattr(uploads_module, "ingest", ingest_and_poll)
    incoming = tmp_path / "incoming"
    write_docs(incoming, 2)
    queue.upload([str(incoming / "note-0.txt"), str(incoming / "note-1.txt")], "page")
    queue.run_pending()
    assert any("adding note-0.txt, note-1.txt: " in line and "reading 1/2 files" in line
               for line in seen)  # fmt: skip
    assert any(re.search(r"▰+▱* embedding \d+/\d+ chunks", line) for line in seen)
    text, done = queue.status("page")
    assert done and "✓ added" in text and "embedding" not in text


@pytest.mark.slow
def test_the_cli_draws_a_bar_on_a_terminal_and_nothing_when_piped(tmp_path):
    import pty

    docs = tmp_path / "docs"
    write_docs(docs, 3)
    env = {**os.environ, "ASSISTANT_EMBEDDER": "fake", "HF_HUB_OFFLINE": "1"}
    leader, follower = pty.openpty()
    done = subprocess.run(
        [str(CLI), "ingest", str(docs), "--index", str(tmp_path / "a")],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    assert done.returncode == 0 and b"Indexed" in done.stdout
    assert b"\r\x1b[Kreading" in terminal and b"3/3 files" in terminal
    assert b"embedding" in terminal and b"writing" in terminal
    assert b"\r" not in done.stdout  # the bar never goes to stdout
    piped = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant.cli",
            "ingest",
            str(docs),
            "--index",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stderr == b""  # a short run: no progress lines
