"""The data that flows through the assistant, as frozen dataclasses with one JSON form each."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from .settings import RetrievalSettings

CALIBRATED = RetrievalSettings()  # the defaults: settings.py holds the calibrated numbers
MODES = ("hybrid", "dense", "bm25")  # retrievers: both fused, embeddings only, BM25 only


def display_title(title: str, path: str, doc_id: str) -> str:
    """The title to show: the document's own, else its file name (and record id)."""
    if title:
        return title
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or doc_id
    return f"{stem} #{doc_id.partition('#')[2]}" if "#" in doc_id else stem


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str  # "" when the text has no title line
    path: str
    text: str
    sha256: str
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph in `text`
    pages: tuple[tuple[int, int], ...] = ()  # (start, end) of each page, for paged formats (PDF)
    sections: tuple[tuple[int, str], ...] = ()  # (start, heading) of each section, in text order
    metadata: tuple[tuple[str, str], ...] = ()  # ("author", ...), ("date", ...), ("outlet", ...)
    code: tuple[tuple[int, int], ...] = ()  # (start, end) of each code block (HTML, Markdown)


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    doc_id: str
    title: str
    path: str
    text: str  # == document.text[start:end]
    start: int
    end: int
    paragraphs: tuple[int, ...]  # 1-based paragraph numbers the chunk covers
    n_tokens: int  # tokens the model sees for this chunk (title prefix included)
    pages: tuple[int, ...] = ()  # 1-based pages the chunk covers (paged formats only)
    section: str = ""  # heading of the section the chunk starts in, if the document has any
    kind: str = "text"  # "code": a code block (or a piece of one), never mixed with prose

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(
            **{**d, "paragraphs": tuple(d["paragraphs"]), "pages": tuple(d.get("pages", ()))}
        )


@dataclass(frozen=True)
class Source:
    doc_id: str
    title: str
    path: str
    paragraphs: tuple[int, ...]
    start: int  # offsets into the document text
    end: int
    pages: tuple[int, ...] = ()  # 1-based pages, for paged formats (PDF)
    section: str = ""  # heading of the section the passage starts in
    metadata: tuple[tuple[str, str], ...] = ()  # the document's author, date, outlet... if known


@dataclass(frozen=True)
class Highlight:
    start: int  # offsets into the passage text
    end: int
    text: str


@dataclass(frozen=True)
class Coverage:
    """What a passage covers of a question's focus terms, and the signals presence reads
    (answer/presence.py)."""

    matched: tuple[str, ...]  # focus terms the passage holds, as the question wrote them
    missing: tuple[str, ...]  # and those it does not
    share: float  # idf-weighted share of the focus that is covered (1.0: all, or no focus)
    missing_proper: int  # missing names (capitalised words, acronyms)
    missing_unknown: int  # missing terms that no chunk of the index contains
    closest_missing: float  # the best cosine of a missing term with a nearby word; 1.0: none
    kind: str  # the kind of answer the question asks for: date, number, name, place or ""
    kind_found: bool  # such an answer is in the passage's best sentences (True without a kind)
    window_share: float = 1.0  # the share of the focus held by the best two sentences
    window_kind_found: bool = True  # an answer of the asked kind is in those two sentences


@dataclass(frozen=True)
class Passage:
    rank: int
    score: float  # what the retriever ranked by
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 over the sum of the question terms' idf: 1.0 = every term matched fully
    text: str
    source: Source
    highlight: Highlight
    coverage: Coverage | None = None  # what the passage holds of the question's focus
    presence: float = 1.0  # probability that this passage holds what the question asks for
    less_related: bool = False  # far weaker than the first passage: shown collapsed
    kind: str = "text"  # the chunk's kind: "text", or "code" for a code block


@dataclass(frozen=True)
class Answer:
    question: str
    answerable: bool
    passages: tuple[Passage, ...]
    confidence: float = 0.0  # calibrated probability that the documents answer the question
    retriever: str = "hybrid"
    searched: str = ""  # what was searched: the question, led by earlier ones for a follow-up
    # The settings the answer was made with (the thresholds come from the calibration).
    answerable_at: float = CALIBRATED.answerable_at  # passages are shown from this confidence on
    weak_below: float = CALIBRATED.weak_below  # an answer below this confidence is a weak match
    k: int = 3
    documents: tuple[str, ...] = ()  # doc_ids the search was limited to; () = all
    topic: float = 0.0  # probability that the documents are about the question (topic match)
    reason: str = ""  # why the answer got its state, in words
    less_related_below: float = CALIBRATED.less_related_below  # see RetrievalSettings

    @property
    def state(self) -> str:
        """One of answered, weak (answerable but below `weak_below`) or not_found."""
        if not self.answerable:
            return "not_found"
        return "weak" if self.confidence < self.weak_below else "answered"

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answerable": self.answerable,
            "state": self.state,
            "confidence": round(self.confidence, 4),
            "topic": round(self.topic, 4),
            "reason": self.reason,
            "retriever": self.retriever,
            "searched": self.searched or self.question,
            "settings": {
                "k": self.k,
                "retriever": self.retriever,
                "answerable_at": round(self.answerable_at, 4),
                "weak_below": round(self.weak_below, 4),
                "less_related_below": round(self.less_related_below, 4),
                "documents": list(self.documents),
            },
            "passages": [
                {
                    "rank": p.rank,
                    "score": round(p.score, 4),
                    "dense": round(p.dense, 4),
                    "lexical": round(p.lexical, 4),
                    "text": p.text,
                    "source": {
                        **asdict(p.source),
                        "paragraphs": list(p.source.paragraphs),
                        "pages": list(p.source.pages),
                        "metadata": dict(p.source.metadata),
                    },
                    "highlight": asdict(p.highlight),
                    "coverage": {
                        "matched": list(p.coverage.matched if p.coverage else ()),
                        "missing": list(p.coverage.missing if p.coverage else ()),
                    },
                    "presence": round(p.presence, 4),
                    "less_related": p.less_related,
                    "kind": p.kind,
                }
                for p in self.passages
            ],
        }

    def to_json(self, indent: int | None = None) -> str:
        """The answer's JSON, the same bytes wherever it is printed or served (`dumps`)."""
        return dumps(self.to_dict(), indent)


# json.dumps(ensure_ascii=False) escapes C0 controls only; these would stay raw without this
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def dumps(value: object, indent: int | None = None) -> str:
    """json.dumps, with DEL, C1 controls, U+2028/2029 and lone surrogates escaped too: still
    valid JSON of the same value, and safe to print on a terminal or put in a page."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
