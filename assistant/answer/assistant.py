"""Answering: `Assistant.open(index).ask(question)` searches, judges whether the documents
answer, and returns cited passages with their best sentence marked. It picks up a new version
of its index (an ingest meanwhile) before each question.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..embedding import Embedder, embedder_for_index
from ..errors import AssistantError, IndexMissingError, InvalidArgumentError
from ..schema import Answer, Passage
from ..settings import index_dir_or_default
from ..store.folder import Index, load_index, version_of
from ..validation import validate_context, validate_question
from ..words import content_words
from .citations import source_for
from .conversation import question_parts, search_text
from .highlight import (
    best_sentence,
    chunk_sentence_words,
    chunk_sentences,
    sentence_similarities,
)
from .presence import (
    WordVectors,
    answer_kind,
    coverage,
    features,
    focus_terms,
    probability,
    reason,
    term_idf,
)
from .retrieval import Retriever, check_mode

BEST_SENTENCES = 2  # sentences closest to the question, where an answer's kind is looked for


class Assistant:
    """Answers questions from one index with cited, highlighted passages."""

    def __init__(self, index: Index, embedder: Embedder) -> None:
        self.embedder = embedder
        self._reloading = threading.Lock()
        self._version = version_of(index.path)
        self._state = index, Retriever(index)
        self._unloadable: tuple[tuple[int, int], str] | None = None  # (version, why)
        self.word_vectors = WordVectors(embedder)

    @property
    def index(self) -> Index:
        return self._state[0]

    @property
    def retriever(self) -> Retriever:
        return self._state[1]

    @property
    def problem(self) -> str:
        """Why the index on disk is not the one answering ("" when it is): the folder was
        deleted, or a new version cannot be loaded. The loaded version keeps answering."""
        path = self.index.path
        version = version_of(path)
        if version is None:
            missing = IndexMissingError(str(path))
            return f"{missing} Until then, answers come from the copy loaded earlier."
        error = self.load_error
        return f"{error} Answers come from the version loaded earlier." if error else ""

    @property
    def load_error(self) -> str:
        """Why the version on disk cannot be loaded ("" when it can, or is the loaded one)."""
        unloadable = self._unloadable
        if unloadable is not None and unloadable[0] == version_of(self.index.path):
            return unloadable[1]
        return ""

    def refresh(self) -> bool:
        """Loads the index again when a new version was swapped in since it was loaded (one
        stat per call). Questions already being answered finish on the version they started
        with; if the new version cannot be loaded, the loaded one keeps answering and that
        version is not tried again (`problem` says why). True when it reloaded."""
        path = self.index.path
        version = version_of(path)
        if version is None or version == self._version:
            return False
        if self._unloadable is not None and self._unloadable[0] == version:
            return False
        if not self._reloading.acquire(blocking=False):
            return False  # another thread is loading it; answer from the current version
        try:
            if version_of(path) == self._version:
                return False
            try:
                index = load_index(path, self.embedder)
            except AssistantError as exc:
                self._unloadable = (version, str(exc))
                return False
            self._state = index, Retriever(index)
            self._version, self._unloadable = version, None
            return True
        finally:
            self._reloading.release()

    @classmethod
    def open(
        cls, index_dir: str | Path | None = None, embedder: Embedder | None = None
    ) -> Assistant:
        index_dir = index_dir_or_default(index_dir)
        embedder = embedder or embedder_for_index(index_dir)
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
        context = validate_context(context)
        self.refresh()
        index, searcher = self._state  # one version for the whole answer
        mode = check_mode(retriever or searcher.settings.mode)
        cut = _check_cut(searcher, answerable_at)
        only = _check_documents(index, documents)
        searched = search_text(question, context)
        query = self._embed_question(searched)
        if searched != question:  # a follow-up: its own words weigh as much as the context
            query = query + self._embed_question(question)
            query /= np.linalg.norm(query)
        ranking = searcher.search(searched, query, k, mode, documents=only)
        topic = searcher.confidence(ranking, query)
        gate = searcher.settings.topic_at  # an explicit cut lowers it: 0 shows every passage
        gate = gate if answerable_at is None else min(gate, cut)
        if topic < gate and searched == question:
            # partly about the documents? then answer the part that is
            for part in question_parts(question):
                part_query = self._embed_question(part)
                part_ranking = searcher.search(part, part_query, k, mode, documents=only)
                part_topic = searcher.confidence(part_ranking, part_query)
                if part_topic > topic:
                    searched, query, ranking, topic = part, part_query, part_ranking, part_topic
        answer = Answer(
            question=question,
            answerable=False,
            passages=(),
            confidence=topic,
            retriever=mode,
            searched=searched,
            answerable_at=cut,
            weak_below=max(cut, searcher.settings.weak_below),
            k=k,
            documents=tuple(sorted(only or ())),
            topic=topic,
            reason=reason("not_found", None, topic_refused=True),
            less_related_below=searcher.settings.less_related_below,
        )
        if topic < gate or not ranking.hits:
            return answer
        passages = self._passages(index, searcher, ranking.hits, searched, query, topic)
        best = max(passages, key=lambda p: p.presence)
        confidence = best.presence
        answer = replace(
            answer,
            answerable=confidence >= cut,
            confidence=confidence,
            passages=passages if confidence >= cut else (),
        )
        return replace(answer, reason=reason(answer.state, best.coverage, False))

    def _passages(self, index, searcher, hits, searched, query, topic):
        """The hits as passages, highlighted, with what each covers of the question."""
        spans = [chunk_sentences(h.chunk.text) for h in hits]
        similarities = sentence_similarities(
            index, index.settings.chunker, self.embedder, hits, spans, query
        )
        words = content_words(searched)
        terms, kind = focus_terms(searched), answer_kind(searched)
        settings = searcher.settings
        first_score = hits[0].score
        passages = []
        for rank, (hit, ss) in enumerate(zip(hits, spans, strict=True), 1):
            text, sims = hit.chunk.text, similarities[rank - 1]
            highlight = best_sentence(
                text, ss, sims, words, sentence_words=chunk_sentence_words(text)
            )
            nearest = [text[s:e] for s, e in (ss[i] for i in np.argsort(-sims)[:BEST_SENTENCES])]
            covered = coverage(
                terms,
                kind,
                text,
                [highlight.text, *nearest],
                lambda word: term_idf(index.lexical, word),
                self.word_vectors,
                heading=f"{hit.chunk.title}\n{hit.chunk.section}",
                sentences=[text[s:e] for s, e in ss],
            )
            passages.append(
                Passage(
                    rank=rank,
                    score=hit.score,
                    dense=hit.dense,
                    lexical=hit.lexical,
                    text=text,
                    source=source_for(hit.chunk, _metadata(index, hit.chunk.doc_id)),
                    highlight=highlight,
                    kind=hit.chunk.kind,
                    coverage=covered,
                    presence=probability(features(covered, topic), settings.presence),
                    less_related=rank > 1
                    and first_score > 0
                    and hit.score < settings.less_related_below * first_score,
                )
            )
        return tuple(passages)

    def _embed_question(self, question: str) -> np.ndarray:
        """The model reads the first 256 tokens of a longer question; BM25 reads all of it."""
        return self.embedder.encode([question])[0]


def _metadata(index: Index, doc_id: str) -> tuple[tuple[str, str], ...]:
    doc = index.documents.get(doc_id)
    return doc.metadata if doc is not None else ()


def _check_cut(searcher: Retriever, answerable_at: float | None) -> float:
    if answerable_at is None:
        return searcher.settings.answerable_at
    if isinstance(answerable_at, bool) or not 0 <= answerable_at <= 1:
        raise InvalidArgumentError(
            f"answerable_at must be a probability from 0 to 1, not {answerable_at!r}."
        )
    return float(answerable_at)


def _check_documents(index: Index, documents: Iterable[str] | None) -> frozenset[str] | None:
    if documents is None:
        return None
    only = frozenset([documents] if isinstance(documents, str) else documents)
    unknown = sorted(only - set(index.documents))
    if unknown:
        raise InvalidArgumentError(
            f"No document {unknown[0]!r} in this index; `assistant info` lists the doc_ids."
        )
    return only or None
