"""Small updates of a big index, end to end through the CLI (bench/scale.py runs it): on a
hard-linked copy of the index, `assistant ingest one.txt` and `assistant remove one.txt` with
the real model (process start, model load, embedding, write, swap), the bytes each writes, and
a question that finds the added document."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from machine import machine  # bench/ is on sys.path: scale.py and python_docs.py import this

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


ONE_DOCUMENT = (
    "Harbour notes {n}\n\nThe ferry to Quillon island leaves the north pier at {h}:15 every "
    "morning and returns before dusk; tickets are sold at the kiosk beside the fish market.\n\n"
    "In winter the crossing is cancelled when the wind passes force {n} on the harbour board, "
    "and the mail goes by the coastal railway instead.\n\nThe pier was rebuilt in stone after "
    "the storm of 18{n}4, with a light at its end that can be seen from the lighthouse on the "
    "far headland."
)


def _timed(args: list[str]) -> tuple[float, str]:
    cli = str(ROOT / ".venv" / "bin" / "assistant")
    start = time.perf_counter()
    done = subprocess.run(
        [cli, *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return wall, done.stdout


def _new_bytes(index_dir: Path, before: set[int]) -> int:
    """Bytes of the files of this version that the previous one did not have (by inode)."""
    return sum(
        p.stat().st_size
        for p in index_dir.rglob("*")
        if p.is_file() and p.stat().st_ino not in before
    )


def _inodes(index_dir: Path) -> set[int]:
    return {p.stat().st_ino for p in index_dir.rglob("*") if p.is_file()}


def small_updates(base: Path, built_s: float | None, runs: int = 3) -> dict:
    """One small document added to and removed from the index at `base` through the CLI, on a
    hard-linked copy of it (a write never changes a file in place)."""
    from assistant.store import folder as store

    chunks = store.read_manifest(base)["counts"]["chunks"]
    work = BENCH / "cache" / f"updates-{chunks}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "docs").mkdir(parents=True)
    index_dir = work / "index"
    subprocess.run(["cp", "-al", str(base), str(index_dir)], check=True)  # hard links
    manifest = store.read_manifest(index_dir)
    adds, removes = [], []
    found = None
    for n in range(1, runs + 1):
        doc = work / "docs" / f"harbour-{n}.txt"
        doc.write_text(ONE_DOCUMENT.format(n=n, h=n + 5))
        before = _inodes(index_dir)
        wall, out = _timed(["ingest", str(doc), "--index", str(index_dir)])
        inside = float(re.search(r"in ([\d.]+) s", out).group(1))
        adds.append({"wall_s": round(wall, 2), "in_process_s": inside,
                     "bytes_written": _new_bytes(index_dir, before)})  # fmt: skip
        if found is None:
            _, answer = _timed(["ask", "When does the ferry to Quillon leave?", "--json",
                                "--index", str(index_dir), "-k", "1"])  # fmt: skip
            passages = json.loads(answer)["passages"]
            found = bool(passages) and passages[0]["source"]["path"].endswith(doc.name)
        before = _inodes(index_dir)
        wall, out = _timed(["remove", str(doc), "--index", str(index_dir)])
        inside = float(re.search(r"in ([\d.]+) s", out).group(1))
        removes.append({"wall_s": round(wall, 2), "in_process_s": inside,
                        "bytes_written": _new_bytes(index_dir, before)})  # fmt: skip
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    return {
        "machine": machine(),
        "chunks": manifest["counts"]["chunks"],
        "segments": len(manifest["segments"]),
        "index_mb": round(index_bytes / 2**20, 1),
        "index_build_s": round(built_s, 1) if built_s else None,
        "add_s": round(min(a["wall_s"] for a in adds), 2),
        "remove_s": round(min(r["wall_s"] for r in removes), 2),
        "adds": adds,
        "removes": removes,
        "added_document_found": found,
    }
