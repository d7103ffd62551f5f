"""kill -9 during an ingest, with real subprocesses: the index loads and answers exactly as
before (or, once the new version is swapped in, as the new version), and the next ingest works."""

import os
import signal
import subprocess
import sys
import time

import pytest

from assistant import Assistant, ingest

from .conftest import CLI, ROOT

pytestmark = pytest.mark.slow

QUESTIONS = ["Where does the Danube end?", "When did Apollo 11 land?", "How is sourdough made?"]

# Runs an ingest that announces each write step and, at the one named, waits to be killed.
SCRIPT = """
import sys, time
from assistant import ingest
stop_at = sys.argv[3]
def hook(step):
    print("step", step, flush=True)
    if step == stop_at:
        print("waiting", flush=True)
        time.sleep(600)
ingest([sys.argv[1]], sys.argv[2], hook=hook)
print("done", flush=True)
"""


def answers(index_dir, embedder):
    assistant = Assistant.open(index_dir, embedder=embedder)
    return [assistant.ask(q).to_dict() for q in QUESTIONS]


@pytest.fixture
def corpus(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rivers.txt").write_text(
        "Rivers\n\nThe Danube flows through ten countries before it reaches the Black Sea."
    )
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=embedder)
    for i in range(12):  # what the killed ingests try to add
        (docs / f"extra-{i}.txt").write_text(
            f"Note {i}\n\nApollo {i + 10} flew in {1960 + i}; sourdough batch {i} rose well."
        )
    return docs, index_dir


def killed_at(step, docs, index_dir) -> str:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(docs), str(index_dir), step],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    seen = []
    deadline = time.time() + 300
    for line in process.stdout:
        seen.append(line.strip())
        if line.strip() == "waiting" or time.time() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return "\n".join(seen)


def test_kill_9_at_every_write_step_leaves_a_working_index(corpus, embedder):
    docs, index_dir = corpus
    before = answers(index_dir, embedder)
    for step in ("vectors.npy", "jsonl", "bm25", "manifest"):
        log = killed_at(step, docs, index_dir)
        assert "waiting" in log, log
        assert answers(index_dir, embedder) == before, step  # untouched, loads, same answers
    log = killed_at("swapped", docs, index_dir)  # just after the atomic exchange
    if "waiting" not in log:
        log = killed_at("renamed-old", docs, index_dir)  # file systems without the exchange
        assert answers(index_dir, embedder) == before
    else:
        after = answers(index_dir, embedder)
        assert after != before and "Apollo" in after[1]["passages"][0]["text"]
    leftovers = [p.name for p in index_dir.parent.iterdir() if p.name.startswith(".index.")]
    assert leftovers  # the killed writers' folders are still there...
    report = ingest([docs], index_dir, embedder=embedder)  # ...and the next writer clears them
    assert not report.failures
    assert [p.name for p in index_dir.parent.iterdir() if ".new-" in p.name] == []


def test_kill_9_of_the_real_cli_at_random_moments(corpus, embedder):
    docs, index_dir = corpus
    before = answers(index_dir, embedder)
    manifest = (index_dir / "manifest.json").read_bytes()
    for delay in (2.0, 6.0, 9.0):
        process = subprocess.Popen(
            [str(CLI), "ingest", str(docs), "--index", str(index_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        time.sleep(delay)
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        now = answers(index_dir, embedder)  # loads whatever moment it was killed at
        if (index_dir / "manifest.json").read_bytes() == manifest:
            assert now == before
        else:  # it got as far as swapping the new version in
            assert "Apollo" in now[1]["passages"][0]["text"]
            assert finished or process.returncode == -signal.SIGKILL
            break
