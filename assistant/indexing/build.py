"""Writing a version of an index: chunk what is new, embed it (here or on Ray), reuse the vectors
of chunks whose text is unchanged, build BM25 and the background questions' vectors, and hand it
all to the store, which swaps it in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..embedding import Embedder, Progress
from ..schema import Chunk, Document
from ..sentences import sentences_of
from ..settings import IndexSettings, RetrievalSettings
from ..store.folder import Index
from ..store.folder import save as save_version
from ..store.lexical import LexicalIndex, lexical_text
from ..store.sentence_vectors import SentenceVectors
from .chunking import chunk_document, embedding_text

BACKGROUND_QUESTIONS = Path(__file__).resolve().parent.parent / "background_questions.txt"


@dataclass
class Source:
    """A source file in the version being built: its manifest entry and its documents."""

    entry: dict
    documents: list[Document] = field(default_factory=list)
    reuse: bool = True  # documents come from the old index, with their chunks and vectors


@dataclass(frozen=True)
class Written:
    documents: int
    chunks: list[Chunk]
    embedded: int  # chunks embedded by this write
    reused: int  # chunks whose vectors came from the old version


def write_version(
    index_dir: Path,
    sources: list[Source],
    old: Index | None,
    embedder: Embedder,
    settings: IndexSettings,
    progress: Callable[[int], Progress] | None = None,
    hook: Callable[[str], None] | None = None,
    ray: bool = False,
    ray_address: str | None = None,
) -> Written:
    """Chunks and embeds what is new, reuses the rest, and swaps the new version in. The
    caller holds the writer lock."""
    chunker = settings.chunker
    same_chunks = old is not None and old.settings.chunker == chunker
    old_rows: dict[str, list[int]] = {}
    by_text: dict[str, int] = {}
    if old is not None:
        for row, chunk in enumerate(old.chunks):
            old_rows.setdefault(chunk.doc_id, []).append(row)
            by_text.setdefault(embedding_text(chunk.title, chunk.text, chunker), row)
    documents: list[Document] = []
    chunks: list[Chunk] = []
    rows: list[int | None] = []  # old vector row per chunk, None: to embed
    for source in sources:
        for doc in source.documents:
            documents.append(doc)
            if same_chunks and source.reuse and doc.doc_id in old_rows:
                for row in old_rows[doc.doc_id]:
                    chunks.append(replace(old.chunks[row], chunk_id=len(chunks)))
                    rows.append(row)
                continue
            for chunk in chunk_document(doc, embedder.count_tokens, chunker, first_id=len(chunks)):
                chunks.append(chunk)
                rows.append(by_text.get(embedding_text(chunk.title, chunk.text, chunker)))
    texts = [embedding_text(c.title, c.text, chunker) for c in chunks]
    spans = [_sentence_spans(c.text, t) for c, t in zip(chunks, texts, strict=True)]
    per_chunk: list[np.ndarray | None] = [None] * len(chunks)  # sentence vectors
    for i, row in enumerate(rows):
        if row is not None:
            stored = old.sentences.of_chunk(row, len(spans[i])) if old.sentences else None
            if stored is None:
                rows[i] = None  # embed it again, for its sentence vectors
            per_chunk[i] = stored
    todo = [i for i, row in enumerate(rows) if row is None]
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    if todo:
        fresh, fresh_sentences = _encoder(embedder, ray, ray_address)(
            [texts[i] for i in todo],
            [spans[i] for i in todo],
            progress=progress(len(todo)) if progress else None,
        )
        vectors[todo] = fresh
        start = 0
        for i in todo:
            per_chunk[i] = fresh_sentences[start : start + len(spans[i])]
            start += len(spans[i])
    reused = [i for i, row in enumerate(rows) if row is not None]
    if reused:
        vectors[reused] = old.matrix[[rows[i] for i in reused]]
    sentences = SentenceVectors.from_parts(
        [len(ss) for ss in spans],
        np.concatenate(per_chunk) if chunks else np.zeros((0, embedder.dimension), np.float32),
    )
    save_index(
        index_dir,
        documents,
        chunks,
        vectors,
        sentences,
        embedder,
        settings,
        sources=[s.entry for s in sources],
        hook=hook,
        lock=False,
    )
    return Written(len(documents), chunks, len(todo), len(reused))


def save_index(
    index_dir: Path,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentences: SentenceVectors,
    embedder: Embedder,
    settings: IndexSettings,
    **store_options,
) -> None:
    """Writes an index of these chunks and their vectors: builds BM25 and the background
    questions' vectors, records the settings, and swaps it in (`save_version`)."""
    lexical = settings.lexical
    save_version(
        index_dir,
        documents=documents,
        chunks=chunks,
        vectors=vectors,
        lexical=LexicalIndex.build(
            [lexical_text(c.title, c.text, lexical) for c in chunks], lexical
        ),
        background=_background(embedder, vectors, settings.retrieval),
        settings=settings,
        sentences=sentences,
        **store_options,
    )


def _sentence_spans(chunk_text: str, embedded: str) -> list[tuple[int, int]]:
    """The chunk's sentences as spans of the text the model reads (title prefix and all)."""
    shift = len(embedded) - len(chunk_text)
    return [(s + shift, e + shift) for s, e in sentences_of(chunk_text)]


def _encoder(embedder: Embedder, ray: bool, ray_address: str | None):
    """Chunk vectors and sentence vectors, from one model pass: here or on a Ray cluster."""
    if not (ray or ray_address):
        return embedder.encode_with_spans
    from . import distributed

    return lambda texts, spans, progress=None: distributed.encode_with_spans(
        texts, spans, address=ray_address, progress=progress
    )


def _background(embedder: Embedder, vectors: np.ndarray, settings: RetrievalSettings) -> np.ndarray:
    """Vectors of the bundled generic questions, minus those close to this corpus."""
    questions = [q.strip() for q in BACKGROUND_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    background = embedder.encode([q for q in questions if q])
    closest = np.full(len(background), -1.0, dtype=np.float32)
    for start in range(0, len(vectors), 65536):  # bounded memory on large corpora
        block = background @ vectors[start : start + 65536].T
        closest = np.maximum(closest, block.max(axis=1))
    return background[closest < settings.background_max_corpus_similarity]
