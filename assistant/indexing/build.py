"""Writing a version of an index: keep the old segments whose documents all stay (hard-linked),
rewrite the few whose documents partly leave, chunk and embed what is new (here or on Ray),
reusing the vectors of chunks whose text left with a replaced document, and hand it all to the
store, which swaps it in. Nothing is recomputed over the whole index: BM25 is scored from
per-segment postings and the background is counted from the rows that enter and leave."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..embedding import Embedder, Progress
from ..schema import Chunk, Document
from ..sentences import sentences_of
from ..settings import IndexSettings
from ..store.folder import Index
from ..store.folder import save as save_version
from ..store.lexical import Vocabulary, lexical_text, same_terms, stemmer_of
from ..store.segments import (
    SEGMENT_ROWS,
    SMALL_ROWS,
    Fresh,
    Kept,
    Segment,
    document_entries,
    text_hash,
)
from ..store.sentence_vectors import SentenceVectors
from ..words import bm25_terms
from . import background as generic
from .chunking import chunk_document, embedding_text
from .progress import Tracker


@dataclass
class Source:
    """A source file in the version being built: its manifest entry, and its documents when
    they are new (`reuse` False); reused ones stay in the old index (entry["doc_ids"])."""

    entry: dict
    documents: list[Document] = field(default_factory=list)
    reuse: bool = True

    @property
    def doc_ids(self) -> list[str]:
        return (
            list(self.entry.get("doc_ids", ()))
            if self.reuse
            else [d.doc_id for d in self.documents]
        )


@dataclass(frozen=True)
class Written:
    documents: int
    chunks: int
    tokens: int
    embedded: int  # chunks embedded by this write
    reused: int  # chunks whose vectors came from the old version


Plan = list[Segment | list[Kept | Fresh]]


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
    tracker: Tracker | None = None,
) -> Written:
    """Keeps, rewrites, chunks and embeds as above and swaps the new version in. The caller
    holds the writer lock."""
    incremental = (
        old is not None
        and old.settings.chunker == settings.chunker
        and same_terms(old.settings.lexical, settings.lexical)
    )
    where: dict[str, tuple[int, int]] = {}  # doc_id -> (old segment, its document number)
    if old is not None:
        for s, segment in enumerate(old.segments):
            for j, entry in enumerate(segment.entries):
                where[entry["doc_id"]] = (s, j)
    kept: dict[int, list[int]] = {}
    fresh_docs: list[Document] = []
    for source in sources:
        if source.reuse and incremental and all(d in where for d in source.doc_ids):
            for doc_id in source.doc_ids:
                kept.setdefault(where[doc_id][0], []).append(where[doc_id][1])
        elif source.reuse:  # another chunker or BM25 terms: read back and done again
            fresh_docs += [old.documents[d] for d in source.doc_ids]
        else:
            fresh_docs += source.documents
    plan: Plan = []
    leaving: list[tuple[Segment, int, int]] = []  # old rows that leave: (segment, start, end)
    for s, segment in enumerate(old.segments if old is not None else ()):
        mine = sorted(kept.get(s, []))
        if len(mine) == len(segment.entries):
            plan.append(segment)
        elif mine:
            plan.append([Kept(segment, mine)])
        gone = sorted(set(range(len(segment.entries))) - set(mine))
        leaving += [(segment, int(segment.doc_rows[j]), int(segment.doc_rows[j + 1])) for j in gone]
    vocabulary = Vocabulary(old.lexical.vocabulary.ids if incremental else None)
    tracker = tracker or Tracker(None)
    fresh, embedded, reused = _fresh(
        fresh_docs, old.segments if old is not None else (), embedder, settings, vocabulary,
        _steps(progress, tracker), ray, ray_address,
    )  # fmt: skip
    written = tracker.stage("writing", 1)
    _place(plan, fresh)
    entries = _entries(plan)
    flat = [e for item in entries for e in item]
    retrieval = settings.retrieval
    background = generic.background(
        embedder,
        retrieval.background_max_corpus_similarity,
        old if incremental else None,
        _blocks(plan),
        [f.vectors for f in fresh],
        [segment.vectors[start:end] for segment, start, end in leaving],
    )
    save_version(
        index_dir,
        segments=plan,
        documents=entries,
        vocabulary=vocabulary,
        background=background,
        settings=settings,
        sources=[s.entry for s in sources],
        old=old,
        hook=hook,
        lock=False,
    )
    written(1)
    return Written(
        len(flat),
        sum(e["chunks"] for e in flat),
        sum(e.get("tokens", 0) for e in flat),
        embedded,
        reused,
    )


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
    """Writes an index of exactly these chunks (grouped by document, in document order) and
    their vectors (bench/scale.py builds big indexes with it)."""
    vocabulary = Vocabulary()
    stemmer = stemmer_of(settings.lexical)
    terms = vocabulary.id_lists(
        [bm25_terms(lexical_text(c.title, c.text, settings.lexical), stemmer) for c in chunks]
    )
    chunker = settings.chunker
    hashes = text_hash([embedding_text(c.title, c.text, chunker) for c in chunks])
    fresh = _split(documents, chunks, vectors, sentences, terms, hashes)
    plan: Plan = [[f] for f in fresh]
    background = generic.background(
        embedder, settings.retrieval.background_max_corpus_similarity, None, [vectors], [], []
    )
    save_version(
        index_dir,
        segments=plan,
        documents=_entries(plan),
        vocabulary=vocabulary,
        background=background,
        settings=settings,
        **store_options,
    )


def _steps(progress, tracker: Tracker) -> Callable[[int], Progress]:
    """The embedding's progress, told to both the caller's `progress` and the tracker."""

    def start(total: int) -> Progress:
        theirs = progress(total) if progress else None
        advance = tracker.stage("embedding", total)

        def step(n: int) -> None:
            advance(n)
            if theirs:
                theirs(n)

        return step

    return start


def _fresh(documents, segments, embedder, settings, vocabulary, progress, ray, ray_address):
    """Chunks and embeds the new documents; a chunk whose text some old chunk has (found by
    its hash in any old segment) takes that chunk's vectors. Returns the Fresh pieces (at most
    SEGMENT_ROWS rows each), how many chunks were embedded and how many reused."""
    if not documents:
        return [], 0, 0
    chunker = settings.chunker
    chunks: list[Chunk] = []
    for doc in documents:
        chunks += chunk_document(doc, embedder.count_tokens, chunker, first_id=len(chunks))
    texts = [embedding_text(c.title, c.text, chunker) for c in chunks]
    hashes = text_hash(texts)
    spans = [_sentence_spans(c.text, t) for c, t in zip(chunks, texts, strict=True)]
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    per_chunk: list[np.ndarray | None] = [None] * len(chunks)
    found_at: list[tuple[Segment, int] | None] = [None] * len(chunks)
    for segment in segments:
        for i, row in enumerate(segment.rows_of(hashes)):
            if row >= 0 and found_at[i] is None:
                old = segment.chunks[int(row)]  # the text itself, not only its hash
                if embedding_text(old.title, old.text, chunker) == texts[i]:
                    found_at[i] = (segment, int(row))
    todo = []
    for i in range(len(texts)):
        found = found_at[i]
        stored = found[0].sentences.of_chunk(found[1], len(spans[i])) if found else None
        if stored is None:
            todo.append(i)
            continue
        vectors[i], per_chunk[i] = found[0].vectors[found[1]], stored
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
    sentences = SentenceVectors.from_parts(
        [len(s) for s in spans],
        np.concatenate(per_chunk) if chunks else np.zeros((0, embedder.dimension), np.float32),
    )
    stemmer = stemmer_of(settings.lexical)
    terms = vocabulary.id_lists(
        [bm25_terms(lexical_text(c.title, c.text, settings.lexical), stemmer) for c in chunks]
    )
    return (
        _split(documents, chunks, vectors, sentences, terms, hashes),
        len(todo),
        len(chunks) - len(todo),
    )


def _split(documents, chunks, vectors, sentences: SentenceVectors, terms, hashes) -> list[Fresh]:
    """Fresh pieces of whole documents, at most SEGMENT_ROWS rows each (unless one document
    alone is bigger)."""
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
    pieces, group, start, rows = [], [], 0, 0
    for doc in documents + [None]:
        n = counts.get(doc.doc_id, 0) if doc is not None else 0
        if group and (doc is None or rows + n > SEGMENT_ROWS):
            end = start + rows
            pieces.append(
                Fresh(
                    group,
                    chunks[start:end],
                    vectors[start:end],
                    sentences.take([(start, end)]),
                    terms[start:end],
                    hashes[start:end],
                )
            )
            group, start, rows = [], end, 0
        if doc is not None:
            group.append(doc)
            rows += n
    return pieces


def _place(plan: Plan, fresh: list[Fresh]) -> None:
    """Appends the fresh pieces as new segments; the first joins a small last segment."""
    if not fresh:
        return
    last = plan[-1] if plan else None
    rows = (last.rows if isinstance(last, Segment) else sum(p.rows for p in last)) if last else 0
    if last is not None and rows < SMALL_ROWS and rows + fresh[0].rows <= SEGMENT_ROWS:
        if isinstance(last, Segment):
            plan[-1] = [Kept(last, list(range(len(last.entries))))]
        plan[-1].append(fresh[0])
        fresh = fresh[1:]
    plan += [[f] for f in fresh]


def _entries(plan: Plan) -> list[list[dict]]:
    """The document entries of each segment of the plan, in row order."""
    out = []
    for item in plan:
        entries: list[dict] = []
        out.append(entries)
        if isinstance(item, Segment):
            entries += item.entries
            continue
        for piece in item:
            if isinstance(piece, Kept):
                entries += [piece.segment.entries[j] for j in piece.docs]
            else:
                tokens: dict[str, int] = {}
                for chunk in piece.chunks:
                    tokens[chunk.doc_id] = tokens.get(chunk.doc_id, 0) + chunk.n_tokens
                entries += [
                    {**e, "tokens": tokens.get(e["doc_id"], 0)}
                    for e in document_entries(piece.documents, piece.chunks)
                ]
    return out


def _blocks(plan: Plan) -> list[np.ndarray]:
    """The vectors of every row of the plan, block by block (no copy of kept segments)."""
    blocks = []
    for item in plan:
        if isinstance(item, Segment):
            blocks.append(item.vectors)
            continue
        for piece in item:
            if isinstance(piece, Kept):
                blocks += [piece.segment.vectors[s:e] for s, e in piece.ranges()]
            else:
                blocks.append(piece.vectors)
    return blocks


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
        texts, spans, address=ray_address, progress=progress, precision=embedder.precision
    )
