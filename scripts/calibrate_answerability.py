"""Fits the answerability model from data and reports it on questions it never saw.

    python scripts/calibrate_answerability.py ../shared/data/scifact

Each question gets four signals from the Retriever: the best cosine to any chunk, the best
normalised BM25 of any chunk, the cosine to the closest generic everyday question (the index's
background set), and log10 of the number of chunks (the best of 10,000 chunks matches better by
chance than the best of 14). A logistic regression turns them into the probability that the
documents answer the question. It is fitted on three corpora at once, each group (corpus x
in/out of scope) weighted equally:

    corpus           about the documents                   not about them
    article          tests/data/article_questions.jsonl    tests/data/out_of_scope.jsonl + half
                                                            of calibration_out_of_scope.txt
    encyclopedia     queries aq* (tests/data/encyclopedia) out_of_scope_a.txt + the same half
    SciFact          200 train claims                      the same half

and checked on held-out ones: the article's independent set, the encyclopedia's bq* queries
and out_of_scope_b.txt, SciFact test claims, the other half of calibration_out_of_scope.txt, and
"partly about" questions (a held-out question followed by an everyday one), which must stay
answerable. With in-scope and out-of-scope weighted equally the model's output is a calibrated
probability; the cut follows from costs, not from a search: refusing a question the documents
answer (the user loses the answer) is counted twice as bad as showing passages for one they do
not (the user sees passages that are plainly off topic), so passages are shown from p >= 1/3.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant, ingest  # noqa: E402
from assistant.default_index import DEFAULT_CORPUS  # noqa: E402
from assistant.embedding import get_embedder  # noqa: E402
from assistant.eval import load_dataset, open_index  # noqa: E402

DATA = ROOT / "tests" / "data"
MISSED_ANSWER_COST_RATIO_CUT = 1 / 3  # cost(refuse an answerable question) = 2 x cost(off-topic)


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def jsonl(path: Path, key: str) -> list[str]:
    return [json.loads(line)[key] for line in lines(path)]


def signals(assistant: Assistant, questions: list[str]) -> np.ndarray:
    queries = assistant.embedder.encode(questions)
    rows = []
    for question, query in zip(questions, queries, strict=True):
        ranking = assistant.retriever.rank(question, query)
        rows.append(
            [
                ranking.best_dense,
                ranking.best_lexical,
                assistant.retriever.closest_background(query),
                np.log10(assistant.index.vectors.ntotal),
            ]
        )
    return np.array(rows, dtype=np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Weighted logistic regression by Newton's method; returns [bias, coefficients...]."""
    x1 = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(x1.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x1 @ beta))
        gradient = x1.T @ (w * (p - y)) + l2 * beta
        hessian = (x1 * (w * p * (1 - p))[:, None]).T @ x1 + l2 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def probability(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + x @ beta[1:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scifact", type=Path)
    args = parser.parse_args()
    random.seed(0)
    embedder = get_embedder()
    generic = lines(DATA / "calibration_out_of_scope.txt")
    generic_fit, generic_held = generic[::2], generic[1::2]
    encyclopedia = DATA / "encyclopedia"
    enc_queries = [json.loads(line) for line in lines(encyclopedia / "queries.jsonl")]

    with tempfile.TemporaryDirectory() as tmp:
        ingest([DEFAULT_CORPUS], Path(tmp) / "article", embedder=embedder)
        ingest([encyclopedia / "corpus.jsonl"], Path(tmp) / "enc", embedder=embedder)
        article = Assistant.open(Path(tmp) / "article", embedder)
        enc = Assistant.open(Path(tmp) / "enc", embedder)
    train = load_dataset(args.scifact, "train")
    test = load_dataset(args.scifact, "test")
    scifact = open_index(train, None, log=print, bar=True)

    fit_sets = {
        "article": (
            article,
            jsonl(DATA / "article_questions.jsonl", "question"),
            jsonl(DATA / "out_of_scope.jsonl", "question") + generic_fit,
        ),
        "encyclopedia": (
            enc,
            [q["text"] for q in enc_queries if q["_id"].startswith("a")],
            lines(encyclopedia / "out_of_scope_a.txt") + generic_fit,
        ),
        "scifact": (scifact, random.sample(list(train.queries.values()), 200), generic_fit),
    }
    held_sets = {
        "article": (
            article,
            jsonl(DATA / "independent" / "in_scope.jsonl", "question"),
            jsonl(DATA / "independent" / "out_of_scope.jsonl", "question") + generic_held,
        ),
        "encyclopedia": (
            enc,
            [q["text"] for q in enc_queries if q["_id"].startswith("b")],
            lines(encyclopedia / "out_of_scope_b.txt") + generic_held,
        ),
        "scifact": (scifact, list(test.queries.values()), generic_held),
    }

    xs, ys, ws = [], [], []
    for assistant, inside, outside in fit_sets.values():
        for questions, label in ((inside, 1.0), (outside, 0.0)):
            xs.append(signals(assistant, questions))
            ys.append(np.full(len(questions), label))
            ws.append(np.full(len(questions), 1.0 / len(questions)))
    x, y, w = np.vstack(xs), np.concatenate(ys), np.concatenate(ws)
    w = w / w.mean()
    beta = fit_logistic(x, y, w)
    p = probability(beta, x)
    cut = MISSED_ANSWER_COST_RATIO_CUT
    labels = ("bias", "dense", "lexical", "background", "log10 chunks")
    print("fitted: " + ", ".join(f"{n} {b:.3f}" for n, b in zip(labels, beta, strict=True)))
    print("fit set, weighted share answerable at each cut (in scope / out of scope):")
    for c in (0.2, 0.25, 1 / 3, 0.4, 0.5, 0.6):
        inside = np.average(p[y == 1] >= c, weights=w[y == 1])
        outside = np.average(p[y == 0] >= c, weights=w[y == 0])
        print(f"  p >= {c:.2f}: {inside:6.1%} / {outside:6.1%}")

    def report(name: str, sets: dict) -> None:
        print(f"\n{name}: share answerable (in scope should be high, out of scope low)")
        for corpus, (assistant, inside, outside) in sets.items():
            pin = probability(beta, signals(assistant, inside))
            pout = probability(beta, signals(assistant, outside))
            print(
                f"  {corpus:<13} in scope {np.mean(pin >= cut):6.1%} of {len(inside):<4}"
                f"  out of scope {np.mean(pout >= cut):6.1%} of {len(outside)}"
            )

    report("fit set", fit_sets)
    report("held out", held_sets)
    print("\nheld out, partly about the documents (question + everyday question): answerable")
    fitted = {
        "confidence_bias": beta[0],
        "confidence_dense": beta[1],
        "confidence_lexical": beta[2],
        "confidence_background": beta[3],
        "confidence_log_chunks": beta[4],
        "answerable_at": cut,
    }
    for corpus, (assistant, inside, _) in held_sets.items():
        assistant.retriever.settings = replace(assistant.retriever.settings, **fitted)
        mixed = [f"{q.rstrip('?. ')}, and {random.choice(generic_held)}" for q in inside]
        share = np.mean([assistant.ask(q).answerable for q in mixed])
        print(f"  {corpus:<13} {share:6.1%} of {len(mixed)}  e.g. {mixed[0]!r}")
    print("\nRetrievalSettings values:")
    names = (
        "confidence_bias",
        "confidence_dense",
        "confidence_lexical",
        "confidence_background",
        "confidence_log_chunks",
    )
    for n, value in zip(names, beta, strict=True):
        print(f"    {n}: float = {value:.3f}")
    print(f"    answerable_at: float = {cut:.4f}")


if __name__ == "__main__":
    main()
