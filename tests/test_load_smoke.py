"""A few seconds of scripts/load_test.py (Locust, both profiles, an ingest during the API run):
the benchmark still runs, and a short load gives answers with no errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_load_test_smoke_run(small_index):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "load_test.py"),
            "--index",
            str(small_index),
            "--users",
            "4",
            "--duration",
            "6",
            "--ingest",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ASSISTANT_EMBEDDER": "fake"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["profile"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert set(results) == {"api", "chat"}
    for result in results.values():
        assert result["answers"] > 0 and result["errors"] == 0, result
        assert 0 < result["p50_s"] <= result["p95_s"] <= result["max_s"] + 0.01
        assert result["machine"]["cores"] == os.cpu_count()
    assert results["api"]["ingest_ok"], results["api"]
    assert results["api"]["new_document_answered_after_s"] < 60  # the served copy picked it up
