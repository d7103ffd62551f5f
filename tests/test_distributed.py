"""`ingest --ray`: the embedding step on a local Ray instance gives the single-process index."""

import json

import numpy as np
import pytest

from assistant import ingest
from assistant.default_index import DEFAULT_CORPUS
from assistant.store.sentence_vectors import SentenceVectors
from tests.conftest import DATA, read_jsonl, run_cli

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _segment(index_dir):
    """The index's one segment folder (a small index has one)."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    return index_dir / manifest["segments"][0]["name"]


def _vectors(index_dir):
    return np.load(_segment(index_dir) / "vectors.npy")


@pytest.mark.slow
def test_ray_ingest_builds_the_single_process_index(tmp_path, embedder, local_ray, monkeypatch):
    from assistant.indexing import distributed as distributed

    monkeypatch.setattr(distributed, "SHARD", 16)  # several shards over several actors
    paths = [DEFAULT_CORPUS, DATA / "encyclopedia" / "corpus.jsonl"]
    single, spread = tmp_path / "single", tmp_path / "ray"
    ingest(paths, single, embedder=embedder)
    report = ingest(paths, spread, embedder=embedder, ray=True)
    assert report.chunks > 3 * distributed.SHARD
    a, b = (
        read_jsonl(_segment(single) / "chunks.jsonl"),
        read_jsonl(_segment(spread) / "chunks.jsonl"),
    )
    assert [(c["doc_id"], c["start"], c["end"]) for c in a] == [
        (c["doc_id"], c["start"], c["end"]) for c in b
    ]
    va, vb = _vectors(single), _vectors(spread)
    assert va.shape == vb.shape and np.allclose(va, vb, atol=1e-5)
    sa = SentenceVectors.load(_segment(single), len(a))
    sb = SentenceVectors.load(_segment(spread), len(b))
    assert np.array_equal(sa.rows, sb.rows)
    assert np.abs(sa.vectors.astype(int) - sb.vectors.astype(int)).max() <= 1


@pytest.mark.slow
def test_cli_ingest_ray_flag(tmp_path):
    """The real command: starts its own local Ray instance (no address given)."""
    index_dir = tmp_path / "index"
    done = run_cli("ingest", str(DEFAULT_CORPUS), "--index", str(index_dir), "--ray")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["counts"]["chunks"] > 0


def test_missing_ray_names_the_install_command(monkeypatch):
    import sys

    from assistant.indexing import distributed as distributed

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(distributed.DistributedError, match=r"pip install '\.\[distributed\]'"):
        distributed.connect()
