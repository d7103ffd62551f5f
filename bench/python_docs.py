"""A real corpus: the Python 3.11 documentation as Debian ships it (python3.11-doc: about 530
Sphinx HTML pages), ingested through the CLI.

    .venv/bin/python bench/python_docs.py [--pages N] [--out bench/python_docs.json]

Installs the package with apt-get when it is missing (as root, or with sudo). Copies the pages
(or N of them, spread evenly over the sorted list) into bench/cache/python-docs/pages/, then
measures: `assistant ingest` end to end (files, documents, chunks, model tokens, tokens/s,
index size); naive sentence-transformers (bench/stacks.py `ingest naive`, in its own process)
embedding the same extracted text, i.e. the texts this project's model read; `assistant ingest`
of one more page into the built index; and a few questions with their top citation. Writes
bench/python_docs.json. A benchmark, not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from machine import machine  # noqa: E402

DOCS = Path("/usr/share/doc/python3.11/html")
WORK = BENCH / "cache" / "python-docs"
CLI = ROOT / ".venv" / "bin" / "assistant"
PEERS = BENCH / ".venv-peers" / "bin" / "python"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
QUESTIONS = [
    "How do I open a file for appending?",
    "What does the global interpreter lock protect?",
    "How can I sort a list of dictionaries by a key?",
    "What is the difference between a list and a tuple?",
    "How do I run a function in a thread pool?",
]


def ensure_package() -> None:
    if DOCS.is_dir():
        return
    command = ["apt-get", "install", "-y", "python3.11-doc"]
    if os.geteuid() != 0:
        command.insert(0, "sudo")
    print("installing python3.11-doc:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def pages(limit: int | None) -> list[Path]:
    found = sorted(
        p
        for p in DOCS.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(DOCS).parts)
    )
    if limit and limit < len(found):
        step = len(found) / limit
        found = [found[int(i * step)] for i in range(limit)]
    return found


def copy_pages(chosen: list[Path], folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for page in chosen:
        target = folder / page.relative_to(DOCS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, target)


def run(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=7200)
    return time.perf_counter() - start, done


def model_texts(index_dir: Path) -> list[str]:
    """The texts the model read for each chunk (title prefix included)."""
    from assistant.embedding import get_embedder
    from assistant.indexing.chunking import embedding_text
    from assistant.store.folder import load_index

    index = load_index(index_dir, get_embedder())
    chunker = index.settings.chunker
    return [embedding_text(c.title, c.text, chunker) for c in index.chunks]


def naive(texts: list[str]) -> dict:
    corpus = WORK / "naive-corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"_id": str(i), "text": text}) + "\n")
    python = PEERS if PEERS.is_file() else ROOT / ".venv" / "bin" / "python"
    command = [str(python), str(BENCH / "stacks.py"), "ingest", "naive", "--corpus", str(corpus)]
    wall, done = run([*command, "--dir", str(WORK / "naive")])
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return {"wall_s": round(wall, 1), "python": str(python.relative_to(ROOT))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, help="only N pages, spread evenly (default: all)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive comparison")
    parser.add_argument("--out", type=Path, default=BENCH / "python_docs.json")
    args = parser.parse_args()
    ensure_package()
    from assistant.store import folder as store

    everything = pages(None)
    chosen = pages(args.pages)
    spare = next(p for p in reversed(everything) if p not in chosen)  # the page added later
    WORK.mkdir(parents=True, exist_ok=True)
    copy_pages(chosen, WORK / "pages")
    index_dir = WORK / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    started = machine()
    print(f"ingesting {len(chosen)} pages ...", flush=True)
    wall, done = run([str(CLI), "ingest", str(WORK / "pages"), "--index", str(index_dir)])
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr[-2000:])
    manifest = store.read_manifest(index_dir)
    tokens = sum(d.get("tokens", 0) for d in manifest["documents"])
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    inside = float(re.search(r"in ([\d.]+) s", done.stdout).group(1))
    result = {
        "machine": started,
        "package": "python3.11-doc",
        "pages": len(chosen),
        "pages_in_package": len(everything),
        "files_indexed": len(manifest["sources"]),
        "files_failed": len(re.findall(r"^error: ", done.stderr, re.M)),
        "documents": manifest["counts"]["documents"],
        "chunks": manifest["counts"]["chunks"],
        "model_tokens": tokens,
        "ingest_wall_s": round(wall, 1),
        "ingest_in_process_s": inside,
        "tokens_per_s": round(tokens / wall),
        "index_mb": round(index_bytes / 2**20, 1),
        "text_million_chars": round(sum(d["chars"] for d in manifest["documents"]) / 1e6, 2),
    }
    if not args.no_naive:
        print(f"naive sentence-transformers on the same {result['chunks']} texts ...", flush=True)
        result["naive"] = naive(model_texts(index_dir))
        result["naive"]["tokens_per_s"] = round(tokens / result["naive"]["wall_s"])
        result["speedup_vs_naive"] = round(result["naive"]["wall_s"] / wall, 2)
    added = WORK / "pages" / spare.relative_to(DOCS)
    added.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spare, added)
    wall, done = run([str(CLI), "ingest", str(added), "--index", str(index_dir)])
    result["add_one_page"] = {
        "page": str(spare.relative_to(DOCS)),
        "wall_s": round(wall, 2),
        "summary": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr,
    }
    answers = []
    for question in QUESTIONS:
        _, done = run([str(CLI), "ask", question, "--json", "-k", "1", "--index", str(index_dir)])
        answer = json.loads(done.stdout)
        top = answer["passages"][0] if answer["passages"] else None
        answers.append(
            {
                "question": question,
                "state": answer["state"],
                "citation": None
                if top is None
                else {
                    "title": top["source"]["title"],
                    "section": top["source"].get("section", ""),
                    "path": str(Path(top["source"]["path"]).relative_to(WORK / "pages"))
                    if top["source"]["path"].startswith(str(WORK / "pages"))
                    else top["source"]["path"],
                },
                "highlight": None if top is None else top["highlight"]["text"][:200],
            }
        )
    result["questions"] = answers
    result["machine_after"] = machine()
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
