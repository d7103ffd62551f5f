"""How often a shown answer is right, by band of the topic confidence (the weak level of the
chat is set on answer presence instead: scripts/calibrate_presence.py).

    .venv/bin/python scripts/weak_threshold.py [--index DIR] [--encyclopedia-index DIR]

For every question the assistant answers, counts by topic band how often what is shown is
right: an in-scope question whose first passage holds the answer. Wrong = an out-of-scope
question that was answered, or a rank-1 miss. Uses the held-out sets only (the article's
independent set and everyday questions, and the encyclopedia's `bq*` half with
`out_of_scope_b.txt`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from assistant import Assistant, ingest
from assistant.default_index import ensure_default_index

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
BANDS = (1 / 3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.01)


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def outcomes(assistant: Assistant, in_scope: list[tuple[str, str]], out: list[str]):
    """(topic, right) for every question that was answered."""
    rows = []
    for question, key in in_scope:
        answer = assistant.ask(question, k=3)
        if answer.answerable:
            rows.append((answer.topic, key.casefold() in answer.passages[0].text.casefold()))
    for question in out:
        answer = assistant.ask(question, k=3)
        if answer.answerable:
            rows.append((answer.topic, False))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, help="index of the bundled article")
    parser.add_argument("--encyclopedia-index", type=Path)
    args = parser.parse_args()
    if args.index is None:
        ensure_default_index()
    everyday = lines(DATA / "calibration_out_of_scope.txt")[1::2]  # the held-out half
    article = Assistant.open(args.index)
    rows = outcomes(
        article,
        [
            (r["question"], r["answer"])
            for r in map(json.loads, lines(DATA / "independent" / "in_scope.jsonl"))
        ],
        [json.loads(x)["question"] for x in lines(DATA / "independent" / "out_of_scope.jsonl")]
        + everyday,
    )
    enc_dir = args.encyclopedia_index or Path(tempfile.mkdtemp()) / "encyclopedia"
    if not (enc_dir / "manifest.json").is_file():
        ingest([DATA / "encyclopedia" / "corpus.jsonl"], enc_dir)
    encyclopedia = Assistant.open(enc_dir)
    queries = [json.loads(x) for x in lines(DATA / "encyclopedia" / "queries.jsonl")]
    rows += outcomes(
        encyclopedia,
        [(q["text"], q["answer"]) for q in queries if q["_id"].startswith("bq")],
        lines(DATA / "encyclopedia" / "out_of_scope_b.txt") + everyday,
    )
    print(f"{'confidence':<14}{'answered':>9}{'right':>7}{'share right':>13}")
    for low, high in zip(BANDS, BANDS[1:], strict=False):
        band = [right for c, right in rows if low <= c < high]
        if band:
            share = sum(band) / len(band)
            print(f"{low:.2f}-{min(high, 1):.2f}{len(band):>11}{sum(band):>7}{share:>13.0%}")
    for cut in (0.5, 0.55, 0.6, 0.65, 0.7):
        below = [right for c, right in rows if c < cut]
        above = [right for c, right in rows if c >= cut]
        print(
            f"weak below {cut:.2f}: weak {len(below)} "
            f"({sum(below) / max(1, len(below)):.0%} right), answered {len(above)} "
            f"({sum(above) / max(1, len(above)):.0%} right)"
        )


if __name__ == "__main__":
    main()
