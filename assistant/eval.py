"""Retrieval quality on a BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

The corpus is indexed through the same `ingest` users run (cached by corpus hash), every query
goes through the same Retriever the chat uses, and a document scores as its best chunk.
Metrics follow BEIR (pytrec_eval): nDCG@10 with linear gains, Recall@k over the relevant
documents, MRR@10; queries without relevant documents are left out.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .answer.retrieval import Retriever, check_mode
from .errors import AssistantError, IndexCorruptError, IndexIncompatibleError, IndexMissingError
from .schema import MODES

RANK_DOCUMENTS = 100
CANDIDATE_CHUNKS = 1000  # per ranking: enough chunks to rank 100 documents


class DatasetError(AssistantError):
    def __init__(self, folder: str, reason: str) -> None:
        super().__init__(
            f"{folder} is not a BEIR-format dataset: {reason}. Expected corpus.jsonl, "
            "queries.jsonl and qrels/<split>.tsv (query-id, corpus-id, score)."
        )


@dataclass(frozen=True)
class Dataset:
    name: str
    corpus: Path
    queries: dict[str, str]  # only the queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance}


@dataclass(frozen=True)
class EvalResult:
    dataset: str
    split: str
    retriever: str
    queries: int
    documents: int
    chunks: int
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries_per_second: float

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"):
            d[name.replace("_at_", "@")] = d.pop(name)
        return d


# --- metrics: `ranked` is document ids best first, `relevant` maps ids to graded relevance ---


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, r in relevant.items() if r > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


# --- data ---


def load_dataset(folder: str | Path, split: str = "test") -> Dataset:
    folder = Path(folder)
    corpus, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for needed in (corpus, queries_file, qrels_file):
        if not needed.is_file():
            raise DatasetError(str(folder), f"{needed.relative_to(folder)} is missing")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(qrels_file.read_text(encoding="utf-8").splitlines(), 1):
        cells = line.strip().split("\t")
        if not line.strip() or (number == 1 and cells[-1] == "score"):
            continue
        if len(cells) != 3:
            raise DatasetError(str(folder), f"{qrels_file.name} line {number} has not 3 columns")
        try:
            relevance = int(cells[2])
        except ValueError:
            raise DatasetError(str(folder), f"{qrels_file.name} line {number}: bad score") from None
        qrels.setdefault(cells[0], {})[cells[1]] = relevance
    qrels = {q: r for q, r in qrels.items() if any(v > 0 for v in r.values())}
    queries = {}
    for number, line in enumerate(queries_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid, text = str(record["_id"]), record["text"]
        except (ValueError, KeyError, TypeError):
            raise DatasetError(
                str(folder),
                f'queries.jsonl line {number} is not a JSON object with "_id" and "text"',
            ) from None
        if qid in qrels:
            queries[qid] = str(text)
    if not qrels:
        raise DatasetError(
            str(folder), f"{qrels_file.name} judges no query as relevant to any document"
        )
    missing = set(qrels) - set(queries)
    if missing:
        raise DatasetError(str(folder), f"{len(missing)} judged queries are not in queries.jsonl")
    return Dataset(folder.resolve().name, corpus, queries, qrels)


def default_cache_dir(dataset: Dataset) -> Path:
    from .settings import default_index_dir

    digest = hashlib.sha256()
    with open(dataset.corpus, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return default_index_dir().parent / "eval" / f"{dataset.name}-{digest.hexdigest()[:12]}"


def open_index(dataset: Dataset, index_dir: Path | None, log: Callable[[str], None], bar: bool):
    """The dataset's index, built through `ingest` unless a loadable one is cached."""
    from .answer.assistant import Assistant
    from .indexing.sync import ingest

    index_dir = index_dir or default_cache_dir(dataset)
    try:
        return Assistant.open(index_dir)
    except (IndexMissingError, IndexIncompatibleError, IndexCorruptError):
        pass
    log(f"Indexing {dataset.corpus} into {index_dir} (cached for the next run) ...")
    started = time.perf_counter()
    ingest(
        [dataset.corpus], index_dir, rebuild=True, progress=_progress_bar("embedding chunks", bar)
    )
    log(f"Indexed in {time.perf_counter() - started:.0f} s")
    return Assistant.open(index_dir)


def document_ranking(retriever: Retriever, question: str, query, mode: str) -> list[str]:
    """Record ids of the documents, best first; a document scores as its best chunk."""
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in retriever.rank(question, query, mode, depth=CANDIDATE_CHUNKS).hits:
        record_id = hit.chunk.doc_id.partition("#")[2]
        if record_id not in seen:
            seen.add(record_id)
            ranked.append(record_id)
            if len(ranked) == RANK_DOCUMENTS:
                break
    return ranked


def evaluate(
    folder: str | Path,
    split: str = "test",
    modes: tuple[str, ...] = ("hybrid",),
    index_dir: Path | None = None,
    log: Callable[[str], None] = print,
    bar: bool = False,
) -> list[EvalResult]:
    for mode in modes:
        check_mode(mode)
    dataset = load_dataset(folder, split)
    assistant = open_index(dataset, index_dir, log, bar)
    retriever, index = assistant.retriever, assistant.index
    results = []
    for mode in modes:
        totals = {"ndcg": 0.0, "r10": 0.0, "r100": 0.0, "mrr": 0.0}
        tick = _progress_bar(f"{mode} queries", bar)(len(dataset.queries))
        started = time.perf_counter()
        for qid, question in dataset.queries.items():
            query = assistant.embedder.encode([question])[0]
            ranked = document_ranking(retriever, question, query, mode)
            relevant = dataset.qrels[qid]
            totals["ndcg"] += ndcg_at_k(ranked, relevant, 10)
            totals["r10"] += recall_at_k(ranked, relevant, 10)
            totals["r100"] += recall_at_k(ranked, relevant, 100)
            totals["mrr"] += mrr_at_k(ranked, relevant, 10)
            if tick:
                tick(1)
        elapsed = time.perf_counter() - started
        n = len(dataset.queries)
        results.append(
            EvalResult(
                dataset=dataset.name,
                split=split,
                retriever=mode,
                queries=n,
                documents=len(index.documents),
                chunks=len(index.chunks),
                ndcg_at_10=round(totals["ndcg"] / n, 4),
                recall_at_10=round(totals["r10"] / n, 4),
                recall_at_100=round(totals["r100"] / n, 4),
                mrr_at_10=round(totals["mrr"] / n, 4),
                queries_per_second=round(n / elapsed, 1),
            )
        )
    return results


def format_table(results: list[EvalResult]) -> str:
    first = results[0]
    lines = [
        f"{first.dataset} {first.split}: {first.queries} queries, {first.documents:,} documents "
        f"in {first.chunks:,} chunks",
        f"{'retriever':<10}{'nDCG@10':>9}{'R@10':>8}{'R@100':>8}{'MRR@10':>8}{'queries/s':>11}",
    ]
    for r in results:
        lines.append(
            f"{r.retriever:<10}{r.ndcg_at_10:>9.4f}{r.recall_at_10:>8.4f}{r.recall_at_100:>8.4f}"
            f"{r.mrr_at_10:>8.4f}{r.queries_per_second:>11.1f}"
        )
    return "\n".join(lines)


def _progress_bar(label: str, enabled: bool) -> Callable[[int], Callable[[int], None] | None]:
    def start(total: int):
        if not enabled:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=label, unit="", leave=False, dynamic_ncols=True)

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return start


__all__ = ["MODES", "evaluate", "format_table", "load_dataset"]
