"""`assistant serve --ray`: two Ray Serve replicas of the JSON API over one index folder, on a
local Ray instance. Both answer; after an ingest into the folder both answer from the new
document."""

from __future__ import annotations

import os
import shutil
import time

import httpx
import pytest

from tests.conftest import free_port, run_cli

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

FACT = (
    "The harbour of Port Elsewhere has exactly seventeen blue cranes. They were painted blue in "
    "1931 by the harbour master, Ada Quill, so that ships could see them through fog."
)
NEW_QUESTION = "How many blue cranes does the harbour of Port Elsewhere have?"


def _replicas_seen(url: str, question: str, wanted: str, seconds: float = 90) -> set[str]:
    """The replicas (X-Served-By) that answered `question` with a passage holding `wanted`,
    asking until two have or `seconds` pass."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while len(seen) < 2 and time.monotonic() < deadline:
            response = client.post(url + "/api/ask", json={"question": question, "k": 3})
            assert response.status_code == 200, response.text
            if any(wanted in p["text"] for p in response.json()["passages"]):
                seen.add(response.headers["x-served-by"])
    return seen


@pytest.mark.slow
def test_two_replicas_pick_up_an_ingest(small_index, tmp_path, monkeypatch):
    from ray import serve

    from assistant.web.replicas import start

    monkeypatch.setenv("ASSISTANT_EMBEDDER", "fake")
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        start(index, "127.0.0.1", port, None, replicas=2)
        url = f"http://127.0.0.1:{port}"
        assert len(_replicas_seen(url, "Who condemned the PKK, DHKP-C and Daesh?", "PKK")) == 2
        (tmp_path / "new").mkdir()
        (tmp_path / "new" / "port-elsewhere.txt").write_text(FACT, encoding="utf-8")
        ingested = run_cli(
            "ingest",
            str(tmp_path / "new"),
            "--index",
            str(index),
            env={**os.environ, "ASSISTANT_EMBEDDER": "fake"},
        )
        assert ingested.returncode == 0, ingested.stderr
        assert len(_replicas_seen(url, NEW_QUESTION, "seventeen blue cranes")) == 2
        health = httpx.get(url + "/api/health", timeout=30).json()
        assert health["status"] == "ok" and health["documents"] == 2
    finally:
        serve.shutdown()
        ray.shutdown()
