"""Thumbs up/down on passages, kept in a JSON-lines file beside the index, and the small
evaluation set those votes make (each question searched, the passages voted helpful).

The file is `<index folder>.feedback.jsonl` next to the index folder (index/default ->
index/default.feedback.jsonl): an ingest replaces the whole index folder, and the votes must
survive it. One vote per line:

    {"time": "2026-05-01T12:00:00Z", "question": ..., "searched": ..., "vote": 1 | -1,
     "doc_id": ..., "chunk_id": 7 | null, "start": 1234, "end": 1456, "rank": 1,
     "retriever": "hybrid", "index": "default", "index_created_at": ...}

`doc_id` + `start`/`end` name the passage whatever the chunk numbering of a later index;
`chunk_id` is the chunk in the index that was voted on.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import AssistantError, InvalidArgumentError
from .validation import MAX_QUESTION_CHARS

_WRITE = threading.Lock()
MAX_FEEDBACK_BYTES = 50 * 2**20  # votes stop being recorded once the file is this big


FEEDBACK_SUFFIX = ".feedback.jsonl"  # beside the index folder: an ingest replaces the folder


@dataclass(frozen=True)
class Vote:
    time: str
    question: str
    searched: str
    vote: int  # +1 helpful, -1 not helpful
    doc_id: str
    chunk_id: int | None
    start: int
    end: int
    rank: int
    retriever: str
    index: str
    index_created_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def feedback_path(index_dir: str | Path) -> Path:
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}{FEEDBACK_SUFFIX}"


def make_vote(index, answer: dict, rank: int, vote: int, now: float | None = None) -> Vote:
    """The vote on passage `rank` of `answer` (the answer's JSON form), checked against the
    index it came from. `index` is a loaded `store.Index`."""
    if vote not in (1, -1):
        raise InvalidArgumentError(f"vote must be 1 (helpful) or -1 (not helpful), not {vote!r}.")
    passages = {p["rank"]: p for p in answer.get("passages", ())}
    if rank not in passages:
        raise InvalidArgumentError(f"The answer has no passage {rank!r} to vote on.")
    source = passages[rank]["source"]
    doc_id, start, end = source["doc_id"], int(source["start"]), int(source["end"])
    document = index.documents.get(doc_id)
    if document is None or not 0 <= start < end <= len(document.text):
        raise InvalidArgumentError(f"The passage is not in the index at {index.path}.")
    chunk_id = next(
        (c.chunk_id for c in index.chunks if c.doc_id == doc_id and c.start == start), None
    )
    question = str(answer.get("question", ""))[:MAX_QUESTION_CHARS]
    return Vote(
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)),
        question=question,
        searched=str(answer.get("searched") or question)[:MAX_QUESTION_CHARS],
        vote=vote,
        doc_id=doc_id,
        chunk_id=chunk_id,
        start=start,
        end=end,
        rank=rank,
        retriever=str(answer.get("retriever", "")),
        index=Path(index.path).name,
        index_created_at=str(index.manifest.get("created_at", "")),
    )


def append_vote(index_dir: str | Path, vote: Vote) -> Path:
    """Appends one line (one write, under a lock, so concurrent votes never interleave);
    refuses once the file has reached MAX_FEEDBACK_BYTES."""
    path = feedback_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _WRITE:
        if path.is_file() and path.stat().st_size >= MAX_FEEDBACK_BYTES:
            raise AssistantError(
                f"The feedback file {path} has reached {MAX_FEEDBACK_BYTES // 2**20} MiB, so no "
                "more votes are recorded. Move it aside (`assistant eval --feedback` reads it "
                "there) to start a new one."
            )
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(vote.to_json() + "\n")
    return path


@dataclass(frozen=True)
class ShownPassage:
    session: str  # the browser session (Gradio session hash) it was shown in
    index: str  # the label of the index it came from
    answer: dict  # question, searched, retriever and this one passage: what make_vote takes
    rank: int


class ShownPassages:
    """The passages the chat has shown, by vote token (a random string put in the page), each
    tied to the browser session it was shown in: a vote must name one. Bounded: the oldest
    are forgotten first."""

    def __init__(self, limit: int = 5000) -> None:
        self.limit = limit
        self._shown: OrderedDict[str, ShownPassage] = OrderedDict()
        self._votes: OrderedDict[str, int] = OrderedDict()  # each token's last vote
        self._lock = threading.Lock()

    def add(self, session: str, index: str, answer: dict) -> dict[int, str]:
        """New vote tokens for the answer's passages, by rank."""
        tokens = {}
        asked = {key: str(answer.get(key) or "") for key in ("question", "searched", "retriever")}
        with self._lock:
            for passage in answer.get("passages", ()):
                source = {key: passage["source"][key] for key in ("doc_id", "start", "end")}
                brief = {**asked, "passages": [{"rank": passage["rank"], "source": source}]}
                token = secrets.token_urlsafe(16)
                self._shown[token] = ShownPassage(session, index, brief, passage["rank"])
                tokens[passage["rank"]] = token
            while len(self._shown) > self.limit:
                self._shown.popitem(last=False)
        return tokens

    def first_vote(self, token: str, value: int) -> bool:
        """Records `value` as the token's vote; False when it already is (a repeated click
        counts once; a change of mind is recorded, and a 👍 then a 👎 cancel out)."""
        with self._lock:
            if self._votes.get(token) == value:
                return False
            self._votes[token] = value
            while len(self._votes) > self.limit:
                self._votes.popitem(last=False)
            return True

    def get(self, token: object, session: str | None) -> ShownPassage | None:
        """The passage shown under `token` in this session; None for any other."""
        with self._lock:
            shown = self._shown.get(token) if isinstance(token, str) else None
        return shown if shown is not None and session and shown.session == session else None


def read_votes(index_dir: str | Path) -> list[Vote]:
    """Every vote recorded for the index; a damaged line is skipped (it cannot be trusted)."""
    path = feedback_path(index_dir)
    if not path.is_file():
        return []
    votes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            votes.append(Vote(**record))
        except (ValueError, TypeError):
            continue
    return votes


Span = tuple[str, int, int]  # doc_id, start, end: a passage


def passage_id(span: Span) -> str:
    return f"{span[0]}@{span[1]}-{span[2]}"


@dataclass(frozen=True)
class FeedbackSet:
    """A BEIR-style evaluation set: each question's passages voted helpful on balance."""

    queries: dict[str, str]  # query id -> the text that was searched
    qrels: dict[str, dict[Span, int]]  # query id -> {passage: 1}
    votes: int


def feedback_set(votes: Sequence[Vote]) -> FeedbackSet:
    """Questions with at least one passage voted helpful on balance (a passage voted down as
    often as up is left out), grouped by the text that was searched."""
    net: dict[str, dict[Span, int]] = {}
    for v in votes:
        spans = net.setdefault(v.searched, {})
        span = (v.doc_id, v.start, v.end)
        spans[span] = spans.get(span, 0) + v.vote
    queries, qrels = {}, {}
    for number, (text, spans) in enumerate(net.items(), 1):
        relevant = {span: 1 for span, score in spans.items() if score > 0}
        if relevant:
            qid = f"fb{number:04d}"
            queries[qid], qrels[qid] = text, relevant
    return FeedbackSet(queries, qrels, len(votes))


def write_beir(folder: str | Path, index, data: FeedbackSet) -> Path:
    """Writes the set as a BEIR folder that `assistant eval FOLDER` reads: corpus.jsonl holds
    the index's passages (its chunks, `_id` doc_id@start-end), qrels/test.tsv the helpful ones
    (a voted span that a chunk overlaps makes that chunk relevant)."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for c in index.chunks:
            record = {"_id": passage_id((c.doc_id, c.start, c.end)), "title": c.title}
            out.write(json.dumps({**record, "text": c.text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        for qid, text in data.queries.items():
            out.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid, relevant in data.qrels.items():
            for c in index.chunks:
                if _matches((c.doc_id, c.start, c.end), relevant):
                    out.write(f"{qid}\t{passage_id((c.doc_id, c.start, c.end))}\t1\n")
    return folder


def _matches(chunk: Span, relevant: dict[Span, int]) -> Span | None:
    """The voted passage this chunk is (or overlaps, after a re-chunking), if any."""
    doc_id, start, end = chunk
    if chunk in relevant:
        return chunk
    return next((s for s in relevant if s[0] == doc_id and s[1] < end and start < s[2]), None)


def evaluate_feedback(assistant, modes: Sequence[str] = ("hybrid",)):
    """How well each retriever brings back the passages people voted helpful: nDCG@10,
    Recall@10/100 and MRR@10 over passages (a chunk overlapping a voted passage counts as
    it), one EvalResult per retriever."""
    from .eval import CANDIDATE_CHUNKS, EvalResult, mrr_at_k, ndcg_at_k, recall_at_k

    data = feedback_set(read_votes(assistant.index.path))
    if not data.queries:
        raise AssistantError(
            f"No helpful votes recorded for the index at {assistant.index.path} "
            f"(looked in {feedback_path(assistant.index.path)}). Vote with the thumbs in the "
            "chat (assistant serve), then run this again."
        )
    results = []
    for mode in modes:
        totals = [0.0, 0.0, 0.0, 0.0]
        started = time.perf_counter()
        for qid, text in data.queries.items():
            query = assistant.embedder.encode([text])[0]
            relevant = {passage_id(span): 1 for span in data.qrels[qid]}
            ranked: list[str] = []
            for hit in assistant.retriever.rank(text, query, mode, depth=CANDIDATE_CHUNKS).hits:
                c = hit.chunk
                span = _matches((c.doc_id, c.start, c.end), data.qrels[qid])
                ranked.append(passage_id(span or (c.doc_id, c.start, c.end)))
            ranked = list(dict.fromkeys(ranked))  # a passage counts once, at its best rank
            totals[0] += ndcg_at_k(ranked, relevant, 10)
            totals[1] += recall_at_k(ranked, relevant, 10)
            totals[2] += recall_at_k(ranked, relevant, 100)
            totals[3] += mrr_at_k(ranked, relevant, 10)
        n = len(data.queries)
        elapsed = max(time.perf_counter() - started, 1e-9)
        results.append(
            EvalResult(
                dataset=f"feedback on {Path(assistant.index.path).name}",
                split=f"{data.votes} votes, passages",
                retriever=mode,
                queries=n,
                documents=len(assistant.index.documents),
                chunks=len(assistant.index.chunks),
                ndcg_at_10=round(totals[0] / n, 4),
                recall_at_10=round(totals[1] / n, 4),
                recall_at_100=round(totals[2] / n, 4),
                mrr_at_10=round(totals[3] / n, 4),
                queries_per_second=round(n / elapsed, 1),
            )
        )
    return results
