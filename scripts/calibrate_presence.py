"""Answer presence: measure it on question sets, and fit its model on their tuning halves.

    .venv/bin/python scripts/calibrate_presence.py                  # held-out table
    .venv/bin/python scripts/calibrate_presence.py --fit            # fit on the tuning halves
    .venv/bin/python scripts/calibrate_presence.py --squad dev-v2.0.json   # + SQuAD 2.0 (held out)

Question sets: tests/data/presence/<corpus>/questions.jsonl beside the corpus's files (a folder
without files stands for the bundled article). Each line: {"question", "kind": "answerable" |
"near_topic", "answer": [strings; answerable only], "split": "tune" | "heldout"}. Each corpus is
indexed with `assistant.ingest` into index/eval/presence-<name>-<hash> (cached).

Every question is asked once through `Assistant.ask` (k 3, every passage kept), and the states are
then worked out for the index's settings, for the fitted ones, and for the topic confidence alone
(the assistant before answer presence). --fit prints the coefficients and cuts for
RetrievalSettings; nothing is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from assistant import Assistant, ingest
from assistant.answer.presence import FEATURES, features, probability
from assistant.default_index import DEFAULT_CORPUS
from assistant.settings import RetrievalSettings

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "tests" / "data" / "presence"
NOT_DOCUMENTS = {"questions.jsonl", "SOURCE.md", "check_sets.py"}


def corpus_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in NOT_DOCUMENTS)
    return files or sorted(DEFAULT_CORPUS.glob("*.txt"))


def squad_corpus(path: Path, out: Path) -> tuple[list[Path], list[dict]]:
    """A SQuAD 2.0 file as one text document per article and its questions (all held out)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out.mkdir(parents=True, exist_ok=True)
    files, rows = [], []
    for article in data:
        doc = out / f"{article['title']}.txt"
        paragraphs = [p["context"].strip() for p in article["paragraphs"]]
        doc.write_text(article["title"].replace("_", " ") + "\n\n" + "\n\n".join(paragraphs))
        files.append(doc)
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                impossible = qa.get("is_impossible", False)
                rows.append(
                    {
                        "question": qa["question"],
                        "kind": "near_topic" if impossible else "answerable",
                        "answer": sorted({a["text"] for a in qa["answers"]}),
                        "split": "heldout",
                    }
                )
    return files, rows


def index_for(name: str, files: list[Path]) -> Path:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + f.read_bytes())
    folder = ROOT / "index" / "eval" / f"presence-{name}-{digest.hexdigest()[:10]}"
    if not (folder / "manifest.json").exists():
        ingest([str(f) for f in files], folder)
    return folder


def ask_all(assistant: Assistant, rows: list[dict]) -> list[dict]:
    """Each question's topic confidence, and per passage its features and whether it holds
    the answer."""
    records = []
    for row in rows:
        answer = assistant.ask(row["question"], k=3, answerable_at=0.0)
        keys = [a.casefold() for a in row.get("answer", [])]
        records.append(
            {
                **row,
                "topic": answer.topic,
                "passages": [
                    {
                        "features": features(p.coverage, answer.topic),
                        "holds": any(k in p.text.casefold() for k in keys),
                        "missing": list(p.coverage.missing),
                        "score": p.score,
                    }
                    for p in answer.passages
                    if p.coverage is not None
                ],
            }
        )
    return records


def state(record: dict, coefficients, settings: RetrievalSettings) -> str:
    if record["topic"] < settings.topic_at or not record["passages"]:
        return "not_found"
    p = max(probability(x["features"], coefficients) for x in record["passages"])
    if p < settings.answerable_at:
        return "not_found"
    return "weak" if p < settings.weak_below else "answered"


def topic_state(record: dict, settings: RetrievalSettings) -> str:
    """The assistant before answer presence: the topic confidence alone."""
    if record["topic"] < settings.topic_at:
        return "not_found"
    return "weak" if record["topic"] < 0.7 else "answered"


def table(records: list[dict], decide) -> dict:
    counts: dict = defaultdict(lambda: defaultdict(int))
    for r in records:
        s = decide(r)
        counts[r["kind"]][s] += 1
        counts[r["kind"]]["n"] += 1
        if r["kind"] == "answerable":
            holds = [x["holds"] for x in r["passages"]]
            counts["answerable"]["rank1"] += bool(holds) and holds[0]
            counts["answerable"]["top3"] += any(holds)
    return counts


def show(title: str, counts: dict) -> None:
    a, n = counts["answerable"], counts["near_topic"]

    def pct(c, key):
        return f"{100 * c[key] / c['n']:5.1f}%" if c["n"] else "    -"

    print(
        f"{title:<28} near-topic {n['n']:>4}: not_found {pct(n, 'not_found')} weak {pct(n, 'weak')}"
        f" answered {pct(n, 'answered')} | answerable {a['n']:>4}: answered"
        f" {pct(a, 'answered')} weak {pct(a, 'weak')} not_found {pct(a, 'not_found')}"
        f" rank-1 {pct(a, 'rank1')} top-3 {pct(a, 'top3')}"
    )


def fit(records: list[dict], settings: RetrievalSettings, l2: float = 1.0) -> np.ndarray:
    """Weighted logistic regression on the first passage's features of every question past the
    topic cut, answerable ones only where that passage holds the answer: each corpus × kind
    group weighs the same."""
    rows = [
        r
        for r in records
        if r["topic"] >= settings.topic_at
        and r["passages"]
        and (r["kind"] == "near_topic" or r["passages"][0]["holds"])
    ]
    x = np.array([[1.0, *r["passages"][0]["features"]] for r in rows])
    y = np.array([r["kind"] == "answerable" for r in rows], dtype=float)
    groups = defaultdict(int)
    for r in rows:
        groups[(r["corpus"], r["kind"])] += 1
    w = np.array([1.0 / groups[(r["corpus"], r["kind"])] for r in rows])
    w *= len(rows) / w.sum()
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(100):  # Newton's method
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -50, 50)))
        gradient = x.T @ (w * (p - y)) + penalty * beta
        hessian = (x.T * (w * p * (1 - p))) @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def cuts(tune: list[dict], coefficients, settings: RetrievalSettings, answered: float = 0.9):
    """The cuts, from the tuning answerable questions: passages are shown from the highest
    cut that refuses no more of them than the topic confidence alone did, and `answered` of
    them are answered, the rest weak."""
    answerable = [r for r in tune if r["kind"] == "answerable"]
    refused = sum(topic_state(r, settings) == "not_found" for r in answerable)
    passed = [r for r in answerable if r["topic"] >= settings.topic_at and r["passages"]]
    p = sorted(max(probability(x["features"], coefficients) for x in r["passages"]) for r in passed)
    allowed = refused - (len(answerable) - len(passed))  # refused by presence, beyond the topic's
    show_from = p[allowed] if 0 <= allowed < len(p) else 0.0
    weak_below = p[int((1 - answered) * len(answerable)) - (len(answerable) - len(passed))]
    return {"answerable_at": round(show_from - 0.0005, 3), "weak_below": round(weak_below, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fit", action="store_true", help="fit on the tuning halves")
    parser.add_argument("--split", default="heldout", choices=("tune", "heldout", "all"))
    parser.add_argument("--squad", type=Path, help="a SQuAD 2.0 JSON file (held out)")
    parser.add_argument("--records", type=Path, help="write every question's signals here")
    args = parser.parse_args()

    records = []
    folders = sorted(f for f in SETS.iterdir() if (f / "questions.jsonl").exists())
    sources = [(f.name, corpus_files(f), f / "questions.jsonl") for f in folders]
    for name, files, questions in sources:
        if not questions.exists():
            continue
        rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
        assistant = Assistant.open(index_for(name, files))
        records += [{**r, "corpus": name} for r in ask_all(assistant, rows)]
    if args.squad:
        files, rows = squad_corpus(args.squad, ROOT / "index" / "eval" / "squad-text")
        assistant = Assistant.open(index_for("squad", files))
        records += [{**r, "corpus": "squad"} for r in ask_all(assistant, rows)]
    if args.records:
        args.records.write_text(json.dumps(records, ensure_ascii=False, indent=1))

    settings = RetrievalSettings()
    coefficients = settings.presence
    if args.fit:
        tune = [r for r in records if r["split"] == "tune"]
        coefficients = tuple(round(float(c), 3) for c in fit(tune, settings))
        settings = replace(settings, presence=coefficients, **cuts(tune, coefficients, settings))
        print("presence =", coefficients)
        for name, c in zip(("bias", *FEATURES), coefficients, strict=True):
            print(f"  {name:<18} {c:+.3f}")
        print(f"answerable_at = {settings.answerable_at}, weak_below = {settings.weak_below}")
    chosen = [r for r in records if args.split == "all" or r["split"] == args.split]
    print(
        f"\n{args.split} questions; cuts: shown from {settings.answerable_at:.3f}, weak below "
        f"{settings.weak_below:.3f}"
    )
    for corpus in sorted({r["corpus"] for r in chosen}) + ["ALL"]:
        subset = [r for r in chosen if corpus in ("ALL", r["corpus"])]
        show(f"{corpus} (topic only)", table(subset, lambda r: topic_state(r, settings)))
        show(f"{corpus} (presence)", table(subset, lambda r: state(r, coefficients, settings)))
    if math.isfinite(settings.less_related_below):
        ratios = [
            x["score"] / r["passages"][0]["score"]
            for r in chosen
            if r["kind"] == "answerable" and r["passages"] and r["passages"][0]["score"] > 0
            for x in r["passages"][1:]
            if x["holds"] and not r["passages"][0]["holds"]
        ]
        if ratios:
            print(f"\nanswer below rank 1: score / first score, lowest {min(ratios):.3f}")


if __name__ == "__main__":
    main()
