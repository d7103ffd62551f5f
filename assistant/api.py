"""The Python API. The CLI and the web app are thin layers over these few calls:

from assistant import Assistant, ingest
ingest(["docs/"], index_dir="index/default")
answer = Assistant.open("index/default").ask("Who condemned the PKK?", k=3)
answer.to_dict()  # the JSON contract
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import store
from .chunking import ChunkerSettings, chunk_document, embedding_text
from .citations import best_sentence, content_words, sentences_of, source_for
from .conversation import question_parts, search_text
from .documents import find_files, read_document, read_documents
from .embedding import Embedder, Progress, get_embedder
from .errors import (
    DocumentError,
    EmptyQuestionError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    InvalidArgumentError,
    NoDocumentsError,
    QuestionTooLongError,
)
from .lexical import LexicalIndex, LexicalSettings, lexical_text
from .retrieval import RetrievalSettings, Retriever, check_mode
from .schema import Answer, Passage, Source

MAX_QUESTION_CHARS = 20_000
MAX_K = 50
HIGHLIGHT_OVERLAP_WEIGHT = 0.1
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CORPUS = PACKAGE_DIR / "corpus"
BACKGROUND_QUESTIONS = PACKAGE_DIR / "background_questions.txt"


def default_index_dir() -> Path:
    """$ASSISTANT_INDEX, else index/default in the project checkout (or working directory)."""
    if os.environ.get("ASSISTANT_INDEX"):
        return Path(os.environ["ASSISTANT_INDEX"])
    checkout = PACKAGE_DIR.parent
    root = checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()
    return root / "index" / "default"


def model_settings(embedder: Embedder) -> dict:
    return {"name": embedder.name, "dimension": embedder.dimension, "window": embedder.window}


@dataclass
class IngestReport:
    index_dir: Path
    documents: int = 0
    chunks: int = 0
    tokens: int = 0
    failures: list[DocumentError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def ingest(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    skip_bad: bool = False,
    embedder: Embedder | None = None,
    chunker: ChunkerSettings | None = None,
    retrieval: RetrievalSettings | None = None,
    lexical: LexicalSettings | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> IngestReport:
    """(Re)builds the index from `paths`. Any unreadable file stops the build, leaving the old
    index untouched, unless `skip_bad` is set; then the rest is indexed and failures reported.
    `progress(total)` may return a callback that is told how many chunks each step embedded."""
    paths = list(paths)
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    report = IngestReport(index_dir)
    files, report.notes = find_files(paths)
    documents = []
    for path, doc_id in files:
        try:
            documents.extend(read_documents(path, doc_id))
        except DocumentError as exc:
            report.failures.append(exc)
    if report.failures and not skip_bad:
        return report
    if not documents:
        raise NoDocumentsError("None of the files could be read: nothing was indexed.")

    embedder = embedder or get_embedder()
    chunker = chunker or ChunkerSettings(window=embedder.window)
    retrieval = retrieval or RetrievalSettings()
    lexical = lexical or LexicalSettings()
    chunks = []
    for doc in documents:
        chunks.extend(chunk_document(doc, embedder.count_tokens, chunker, first_id=len(chunks)))
    vectors = embedder.encode(
        [embedding_text(c.title, c.text, chunker) for c in chunks],
        progress=progress(len(chunks)) if progress else None,
    )
    background = _background(embedder, vectors, retrieval)
    store.save(
        index_dir,
        documents=documents,
        chunks=chunks,
        vectors=vectors,
        lexical=LexicalIndex.build(
            [lexical_text(c.title, c.text, lexical) for c in chunks], lexical
        ),
        background=background,
        model=model_settings(embedder),
        chunker=chunker.to_dict(),
        retrieval=retrieval.to_dict(),
    )
    report.documents, report.chunks = len(documents), len(chunks)
    report.tokens = sum(c.n_tokens for c in chunks)
    return report


def _background(embedder: Embedder, vectors: np.ndarray, settings: RetrievalSettings) -> np.ndarray:
    """Vectors of the bundled generic questions, minus those close to this corpus."""
    questions = [q.strip() for q in BACKGROUND_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    background = embedder.encode([q for q in questions if q])
    closest = np.full(len(background), -1.0, dtype=np.float32)
    for start in range(0, len(vectors), 65536):  # bounded memory on large corpora
        block = background @ vectors[start : start + 65536].T
        closest = np.maximum(closest, block.max(axis=1))
    return background[closest < settings.background_max_corpus_similarity]


def ensure_default_index(
    index_dir: Path | None = None, log: Callable[[str], None] | None = None
) -> bool:
    """Builds the default index from the bundled article when it is missing, when the article
    or this version's retrieval settings changed, or when this version cannot load it. An index
    holding any other document is never touched. True when it (re)built."""
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    try:
        manifest = store.read_manifest(index_dir)
    except IndexMissingError:
        manifest = None
    if manifest is not None:
        bundled = {
            d.path: d.sha256
            for d in (read_document(p, i) for p, i in find_files([DEFAULT_CORPUS])[0])
        }
        indexed = {d.get("path"): d.get("sha256") for d in manifest.get("documents", [])}
        if not set(indexed) <= set(bundled):
            return False  # the user's own documents: leave them alone
        if indexed == bundled and manifest.get("retrieval") == RetrievalSettings().to_dict():
            try:
                load_index(index_dir, get_embedder())
                return False
            except (IndexIncompatibleError, IndexCorruptError):
                pass
    (log or _stderr)(f"Indexing the bundled article into {index_dir} ...")
    ingest([DEFAULT_CORPUS], index_dir)
    return True


def load_index(index_dir: Path, embedder: Embedder) -> store.Index:
    """Loads an index, refusing one built with other settings than this version uses."""
    return store.load(
        index_dir,
        model=model_settings(embedder),
        chunker=ChunkerSettings(window=embedder.window).to_dict(),
        lexical=LexicalSettings().to_dict(),
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def validate_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}.")


def validate_question(question: str, k: int = 3) -> str:
    """The question, stripped; a clear error for an empty or oversized one or a bad k."""
    if not isinstance(question, str) or not question.strip():
        raise EmptyQuestionError()
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLongError(len(question), MAX_QUESTION_CHARS)
    validate_k(k)
    return question


class Assistant:
    """Answers questions from one index with cited, highlighted passages."""

    def __init__(self, index: store.Index, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder
        self.retriever = Retriever(index)
        self.chunker = ChunkerSettings(**index.manifest["chunker"])

    @classmethod
    def open(
        cls, index_dir: str | Path | None = None, embedder: Embedder | None = None
    ) -> Assistant:
        index_dir = Path(index_dir) if index_dir else default_index_dir()
        embedder = embedder or get_embedder()
        return cls(load_index(index_dir, embedder), embedder)

    def ask(
        self,
        question: str,
        k: int = 3,
        retriever: str | None = None,
        context: Sequence[str] = (),
        *,
        answerable_at: float | None = None,
        documents: Iterable[str] | None = None,
    ) -> Answer:
        """The k best passages for `question`. `context` holds the conversation's earlier
        questions, oldest first: a follow-up ("When was that?") is searched together with them.
        `answerable_at` replaces the calibrated cut for this call; `documents` (doc_ids) limits
        the search to those documents (None or empty: all)."""
        question = validate_question(question, k)
        mode = check_mode(retriever or self.retriever.settings.mode)
        cut = self._check_cut(answerable_at)
        only = self._check_documents(documents)
        searched = search_text(question, context)
        query = self._embed_question(searched)
        if searched != question:  # a follow-up: its own words weigh as much as the context
            query = query + self._embed_question(question)
            query /= np.linalg.norm(query)
        ranking = self.retriever.search(searched, query, k, mode, documents=only)
        confidence = self.retriever.confidence(ranking, query)
        if confidence < cut and searched == question:
            # partly about the documents? then answer the part that is
            for part in question_parts(question):
                part_query = self._embed_question(part)
                part_ranking = self.retriever.search(part, part_query, k, mode, documents=only)
                part_confidence = self.retriever.confidence(part_ranking, part_query)
                if part_confidence > confidence:
                    searched, query, ranking = part, part_query, part_ranking
                    confidence = part_confidence
        answer = Answer(
            question=question,
            answerable=confidence >= cut,
            passages=(),
            confidence=confidence,
            retriever=mode,
            searched=searched,
            answerable_at=cut,
            weak_below=max(cut, self.retriever.settings.weak_below),
            k=k,
            documents=tuple(sorted(only or ())),
        )
        if not answer.answerable:
            return answer
        hits = ranking.hits
        spans = [sentences_of(h.chunk.text) for h in hits]
        sentence_texts = [  # each sentence read in its document's context, like the chunks
            embedding_text(h.chunk.title, h.chunk.text[s:e], self.chunker)
            for h, ss in zip(hits, spans, strict=True)
            for s, e in ss
        ]
        similarities = self.embedder.encode(sentence_texts) @ query
        words = content_words(searched)
        passages, offset = [], 0
        for rank, (hit, ss) in enumerate(zip(hits, spans, strict=True), 1):
            sims = similarities[offset : offset + len(ss)]
            offset += len(ss)
            passages.append(
                Passage(
                    rank=rank,
                    score=hit.score,
                    dense=hit.dense,
                    lexical=hit.lexical,
                    text=hit.chunk.text,
                    source=self._source(hit.chunk),
                    highlight=best_sentence(
                        hit.chunk.text, ss, sims, words, HIGHLIGHT_OVERLAP_WEIGHT
                    ),
                )
            )
        return replace(answer, passages=tuple(passages))

    def _source(self, chunk) -> Source:
        """The chunk's source, with its document's metadata (author, date...) when it has any."""
        source = source_for(chunk)
        document = self.index.documents.get(chunk.doc_id)
        if source.metadata or document is None or not document.metadata:
            return source
        return replace(source, metadata=tuple(document.metadata))

    def _check_cut(self, answerable_at: float | None) -> float:
        if answerable_at is None:
            return self.retriever.settings.answerable_at
        if isinstance(answerable_at, bool) or not 0 <= answerable_at <= 1:
            raise InvalidArgumentError(
                f"answerable_at must be a probability from 0 to 1, not {answerable_at!r}."
            )
        return float(answerable_at)

    def _check_documents(self, documents: Iterable[str] | None) -> frozenset[str] | None:
        if documents is None:
            return None
        only = frozenset([documents] if isinstance(documents, str) else documents)
        unknown = sorted(only - set(self.index.documents))
        if unknown:
            raise InvalidArgumentError(
                f"No document {unknown[0]!r} in this index; `assistant info` lists the doc_ids."
            )
        return only or None

    def _embed_question(self, question: str) -> np.ndarray:
        """The model reads the first 256 tokens of a longer question; BM25 reads all of it."""
        return self.embedder.encode([question])[0]
