"""Answer quality on question sets, through the same API the CLI and chat use.

    .venv/bin/python scripts/eval_article.py IN_SCOPE.jsonl [OUT_OF_SCOPE.jsonl] [--index DIR] [-v]

IN_SCOPE lines: {"question", "answer"} (a string the answering passage must contain; compared
case-insensitively) and optionally "answer_sentence"; "text" may stand for "question" (BEIR
queries). OUT_OF_SCOPE: JSON lines {"question"}, or plain text, one question per line.
--retriever hybrid|dense|bm25 picks the ranking (default: the index's).
Prints rank-1, top-3 and highlight accuracy, and the answerable rates.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from assistant import Assistant
from assistant.default_index import ensure_default_index


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("in_scope", type=Path)
    parser.add_argument("out_of_scope", type=Path, nargs="?")
    parser.add_argument("--index", type=Path)
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--retriever", choices=("hybrid", "dense", "bm25"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = parser.parse_args()
    if args.index is None:
        ensure_default_index()
    assistant = Assistant.open(args.index)

    rows = [
        json.loads(line) for line in args.in_scope.read_text(encoding="utf-8").splitlines() if line
    ]
    for row in rows:
        row.setdefault("question", row.get("text"))
    rank1 = top = highlight = answerable = 0
    started = time.perf_counter()
    for row in rows:
        answer = assistant.ask(row["question"], k=args.k, retriever=args.retriever)
        key = row["answer"].casefold()
        texts = [p.text.casefold() for p in answer.passages]
        answerable += answer.answerable
        hit1 = bool(texts) and key in texts[0]
        rank1 += hit1
        top += any(key in t for t in texts)
        wanted = row.get("answer_sentence", row["answer"]).casefold()
        shown = answer.passages[0].highlight.text.casefold() if answer.passages else ""
        good_highlight = hit1 and (key in shown or wanted in shown or shown in wanted)
        highlight += good_highlight
        if args.verbose and not (hit1 and good_highlight and answer.answerable):
            got = shown[:90] if answer.passages else "(not answerable)"
            print(f"  miss: {row['question']!r}\n        got: {got!r}")
    n = len(rows)
    elapsed = time.perf_counter() - started
    print(f"in-scope questions: {n}  ({1000 * elapsed / n:.1f} ms per question)")
    print(f"  answerable:        {answerable}/{n} = {answerable / n:.1%}")
    print(f"  rank-1 contains:   {rank1}/{n} = {rank1 / n:.1%}")
    print(f"  top-{args.k} contains:   {top}/{n} = {top / n:.1%}")
    print(f"  highlight correct: {highlight}/{n} = {highlight / n:.1%}")
    if args.out_of_scope:
        outs = [
            json.loads(line) if line.startswith("{") else {"question": line.strip()}
            for line in args.out_of_scope.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        wrongly = [
            row["question"] for row in outs if assistant.ask(row["question"], k=args.k).answerable
        ]
        print(f"out-of-scope questions: {len(outs)}")
        refused = len(outs) - len(wrongly)
        print(f"  answerable=false:  {refused}/{len(outs)} = {refused / len(outs):.1%}")
        if args.verbose:
            for question in wrongly:
                print(f"  wrongly answerable: {question!r}")


if __name__ == "__main__":
    main()
