"""kill -9 during an ingest, with real subprocesses: the index loads and answers exactly as
before (or, once the new version is swapped in, as the new version), and the next ingest works."""

import os
import signal
import subprocess
import sys
import time

import pytest

from assistant import Assistant, ingest

from .conftest import ROOT

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


# The real command (`assistant ingest` through cli.main), stopped the same way at a write step.
CLI_SCRIPT = """
import sys, time
import assistant.indexing.build as build
from assistant.cli import main
stop_at, real_save = sys.argv[3], build.save_version
def hook(step):
    print("step", step, flush=True)
    if step == stop_at:
        print("waiting", flush=True)
        time.sleep(600)
def save(*args, **options):
    return real_save(*args, **{**options, "hook": hook})
build.save_version = save
sys.exit(main(["ingest", sys.argv[1], "--index", sys.argv[2]]))
"""


def killed_at(step, docs, index_dir, script=SCRIPT) -> str:
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(docs), str(index_dir), step],
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
    for step in ("segments", "bm25", "manifest"):
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


def test_kill_9_of_the_real_cli_at_each_write_step(corpus, embedder):
    docs, index_dir = corpus
    before = answers(index_dir, embedder)
    manifest = (index_dir / "manifest.json").read_bytes()
    for step in ("segments", "bm25", "manifest"):
        log = killed_at(step, docs, index_dir, CLI_SCRIPT)
        assert "waiting" in log, log  # killed at that step, not before or after it
        assert (index_dir / "manifest.json").read_bytes() == manifest, step
        assert answers(index_dir, embedder) == before, step
    swap = "swapped" if "waiting" in killed_at("swapped", docs, index_dir, CLI_SCRIPT) else ""
    if not swap:  # a file system without the atomic exchange: killed between its two renames
        assert "waiting" in killed_at("renamed-old", docs, index_dir, CLI_SCRIPT)
        assert answers(index_dir, embedder) == before
    else:
        after = answers(index_dir, embedder)
        assert after != before and "Apollo" in after[1]["passages"][0]["text"]
