from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from assistant import Assistant, ingest  # noqa: E402
from assistant.default_index import DEFAULT_CORPUS  # noqa: E402
from assistant.embedding import Embedder, get_embedder  # noqa: E402
from assistant.fake_embedder import FakeEmbedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
ARTICLE = DEFAULT_CORPUS / "turkiye-us-counterterrorism-consultations.txt"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CLI = Path(sys.executable).parent / "assistant"  # the installed console script


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# The fast lane (`-m "not slow"`) runs without the model, a process, a server or a browser.
# A test using the real model through these fixtures is slow by definition; any other test that
# loads the model or starts a process without the marker fails (see `_fast_lane_guard`).
REAL_MODEL_FIXTURES = {"embedder", "article_index", "assistant", "server"}


def pytest_collection_modifyitems(items):
    for item in items:
        if REAL_MODEL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_lane_guard(request, monkeypatch):
    if request.node.get_closest_marker("slow"):
        return

    def refuse(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"a test not marked slow {what}: mark it @pytest.mark.slow")

        return fail

    monkeypatch.setattr(Embedder, "__init__", refuse("loads the model"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))


@pytest.fixture(scope="session")
def embedder():
    return get_embedder()


@pytest.fixture(scope="session")
def fake_embedder():
    """The model-free embedder (ASSISTANT_EMBEDDER=fake): deterministic hashed word vectors."""
    return FakeEmbedder()


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, fake_embedder) -> Path:
    """The bundled article indexed with the fake embedder: an index in seconds, no model."""
    index_dir = tmp_path_factory.mktemp("small") / "index"
    ingest([DEFAULT_CORPUS], index_dir, embedder=fake_embedder)
    return index_dir


@pytest.fixture(scope="session")
def article_index(tmp_path_factory, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("article") / "index"
    ingest([DEFAULT_CORPUS], index_dir, embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def assistant(article_index, embedder) -> Assistant:
    return Assistant.open(article_index, embedder=embedder)


def run_cli(
    *args: str,
    stdin: str | None = None,
    cwd: Path = ROOT,
    env: dict | None = None,
    timeout: int = 300,
) -> subprocess.CompletedProcess:
    """The real command; `env` replaces the environment; a hang fails the test (`timeout`)."""
    return subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**(os.environ if env is None else env), "HF_HUB_OFFLINE": "1"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(index_dir: Path, *args: str, env: dict | None = None):
    """A real `assistant serve` process on a free loopback port; yields its URL."""
    port = free_port()
    log_path = Path(index_dir).parent / f"serve-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port), "--index", str(index_dir), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError("assistant serve exited: " + log_path.read_text())
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        process.kill()
        raise RuntimeError("assistant serve did not start in time")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(article_index):
    """The chat over the bundled article, shared by the web tests."""
    with running_server(article_index) as url:
        yield url
