#!/usr/bin/env python3
"""Validate the answer-presence evaluation sets under tests/data/presence/.

For each sub-folder: every line of questions.jsonl parses; every question has kind
"answerable" or "near_topic" and split "tune" or "heldout"; every answer string of an
answerable question is found, case-insensitively and ignoring whitespace differences, in the
visible text of the folder's document(s); the tune and heldout halves of each kind differ by at
most one question.

Documents: every file in the folder other than SOURCE.md, questions.jsonl and *.py, plus any
path named in SOURCE.md as `"document": "<path relative to the repository root>"`.
Visible text: .pdf via pypdf's extract_text (run with the repository's .venv python if the
system python lacks pypdf), .html/.htm with scripts, styles and tags stripped and entities
unescaped, anything else read as UTF-8 text.

Usage: python3 tests/data/presence/check_sets.py [folder ...]   (exit status 1 on any problem)
"""

import html
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SKIP = {"SOURCE.md", "questions.jsonl"}


def visible_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    raw = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        raw = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", raw)
        raw = re.sub(r"(?s)<!--.*?-->", " ", raw)
        raw = re.sub(r"(?s)<[^>]+>", " ", raw)
        raw = html.unescape(raw)
    return raw


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def documents(folder: Path) -> list:
    docs = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in SKIP and p.suffix != ".py"
    ]
    source = folder / "SOURCE.md"
    if source.exists():
        for ref in re.findall(r'"document"\s*:\s*"([^"]+)"', source.read_text(encoding="utf-8")):
            docs.append(REPO / ref)
    return docs


def check(folder: Path) -> list:
    problems = []
    qfile = folder / "questions.jsonl"
    if not qfile.exists():
        return [f"{folder.name}: no questions.jsonl"]
    if not (folder / "SOURCE.md").exists():
        problems.append(f"{folder.name}: no SOURCE.md")
    docs = documents(folder)
    missing = [str(d) for d in docs if not d.exists()]
    if missing:
        problems.append(f"{folder.name}: missing document(s) {missing}")
    docs = [d for d in docs if d.exists()]
    if not docs:
        problems.append(f"{folder.name}: no document")
    text = norm(" ".join(visible_text(d) for d in docs))
    counts = {}
    seen = set()
    for n, line in enumerate(qfile.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{folder.name}/questions.jsonl:{n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: bad JSON ({e})")
            continue
        q, kind, split = item.get("question"), item.get("kind"), item.get("split")
        if not isinstance(q, str) or not q.strip():
            problems.append(f"{where}: no question")
        elif norm(q) in seen:
            problems.append(f"{where}: duplicate question {q!r}")
        else:
            seen.add(norm(q))
        if kind not in ("answerable", "near_topic"):
            problems.append(f"{where}: bad kind {kind!r}")
            continue
        if split not in ("tune", "heldout"):
            problems.append(f"{where}: bad split {split!r}")
            continue
        counts[(kind, split)] = counts.get((kind, split), 0) + 1
        if kind == "answerable":
            answers = item.get("answer")
            if not isinstance(answers, list) or not answers:
                problems.append(f"{where}: answerable question without answer list")
                continue
            for a in answers:
                if not isinstance(a, str) or norm(a) not in text:
                    problems.append(f"{where}: answer {a!r} not found in the document text")
        elif "answer" in item:
            problems.append(f"{where}: near_topic question has an answer")
    for kind in ("answerable", "near_topic"):
        t, h = counts.get((kind, "tune"), 0), counts.get((kind, "heldout"), 0)
        if t + h < 40:
            problems.append(f"{folder.name}: only {t + h} {kind} questions (need 40+)")
        if abs(t - h) > 1:
            problems.append(f"{folder.name}: {kind} halves unbalanced (tune {t}, heldout {h})")
    summary = ", ".join(
        f"{k} {s} {counts.get((k, s), 0)}"
        for k in ("answerable", "near_topic")
        for s in ("tune", "heldout")
    )
    print(f"{folder.name}: {summary}")
    return problems


def main(argv) -> int:
    folders = [Path(a) for a in argv] or sorted(p for p in HERE.iterdir() if p.is_dir())
    problems = []
    for folder in folders:
        if folder.name.startswith((".", "_")):
            continue
        problems += check(folder.resolve())
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
