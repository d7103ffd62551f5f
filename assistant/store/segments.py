"""An index's rows, in segments: folders `seg-NNNNNN/` each holding whole documents and their
chunks' rows (vectors, sentence vectors, chunk and document lines, BM25 postings). A segment is
never changed once written: a new version hard-links the segments it keeps from the old one and
writes only the segments whose documents changed, so adding or removing one document writes
one small segment, whatever the size of the index.

    vectors.npy          float32 chunk vectors, one row per chunk (the only copy)
    sentences.npy, sentence_scales.npy, sentence_rows.npy   int8 sentence vectors
    chunks.jsonl         one chunk per line; its chunk_id is its row in the whole index
    documents.jsonl      one document per line, text included
    bm25_*.npy           the chunks' term frequencies by term, and their lengths (lexical.py)
    text_hashes.npy      a 64-bit hash of the text the model read for each chunk, to find a
                         chunk's vectors by its text anywhere in the index (`text_hash`)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..schema import Chunk, Document, display_title
from .jsonl import JsonLines
from .lexical import Postings
from .sentence_vectors import SentenceVectors
from .swap import fsync_dir as fsync_path

SEGMENT_ROWS = 8192  # a write splits new rows into segments of at most this many chunks
SMALL_ROWS = 2048  # a last segment smaller than this is merged with the next write's rows
VECTORS, CHUNKS, DOCUMENTS = "vectors.npy", "chunks.jsonl", "documents.jsonl"
HASHES = "text_hashes.npy"


def text_hash(texts: list[str]) -> np.ndarray:
    """64-bit hashes of texts (uint64)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            for t in texts
        ],
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class Segment:
    """A segment as loaded: its documents (manifest entries) and the rows they own."""

    name: str
    folder: Path
    entries: tuple[dict, ...]  # the manifest's document entries, in row order
    doc_rows: np.ndarray  # document j owns rows doc_rows[j]:doc_rows[j + 1]
    vectors: np.ndarray
    sentences: SentenceVectors
    chunks: JsonLines
    documents: JsonLines
    postings: Postings
    hashes: np.ndarray  # text_hash of each chunk's model text

    @property
    def rows(self) -> int:
        return int(self.doc_rows[-1])

    def rows_of(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, a row holding it, or -1."""
        order = np.argsort(self.hashes, kind="stable")
        ranked = np.asarray(self.hashes)[order]
        at = np.minimum(np.searchsorted(ranked, hashes), max(0, len(ranked) - 1))
        if not len(ranked):
            return np.full(len(hashes), -1, dtype=np.int64)
        return np.where(ranked[at] == hashes, order[at], -1).astype(np.int64)

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


@dataclass(frozen=True)
class Kept:
    """Documents of an old segment that go into a new one unchanged (by their indexes)."""

    segment: Segment
    docs: list[int]

    def ranges(self) -> list[tuple[int, int]]:
        """Row ranges of the kept documents, neighbours merged."""
        out: list[tuple[int, int]] = []
        for j in self.docs:
            start, end = int(self.segment.doc_rows[j]), int(self.segment.doc_rows[j + 1])
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
        return out

    @property
    def rows(self) -> int:
        return sum(e - s for s, e in self.ranges())


@dataclass(frozen=True)
class Fresh:
    """Documents made by this write: chunks grouped by document, in document order."""

    documents: list[Document]
    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: SentenceVectors
    term_ids: list[list[int]]
    hashes: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.chunks)


def load_segment(
    folder: Path, entries: list[dict], first_row: int, vocabulary_size: int, corrupt
) -> Segment:
    counts = [int(e["chunks"]) for e in entries]
    doc_rows = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = int(doc_rows[-1])
    chunks = JsonLines(folder / CHUNKS, Chunk.from_dict, corrupt, "chunk_id", first_row, rows)
    documents = JsonLines(folder / DOCUMENTS, document_from_dict, corrupt, lines=len(entries))
    vectors = np.load(folder / VECTORS, mmap_mode="r")
    sentences = SentenceVectors.load(folder, rows)
    if sentences is None:
        raise ValueError(f"{folder.name} has no sentence vectors")
    if not (len(chunks) == len(vectors) == rows and len(documents) == len(entries)):
        raise ValueError(f"{folder.name}: row counts differ from the manifest")
    postings = Postings.load(folder, rows, vocabulary_size)
    hashes = np.load(folder / HASHES, mmap_mode="r")
    if len(hashes) != rows:
        raise ValueError(f"{folder.name}: text hashes do not match its chunks")
    return Segment(
        folder.name, folder, tuple(entries), doc_rows, vectors, sentences, chunks, documents,
        postings, hashes,
    )  # fmt: skip


def write_segment(folder: Path, pieces: list[Kept | Fresh], vocabulary_size: int) -> list[str]:
    """Writes one segment of these pieces, in order, and fsyncs it; returns its file names."""
    folder.mkdir()
    with open(folder / CHUNKS, "wb") as chunks, open(folder / DOCUMENTS, "wb") as documents:
        for piece in pieces:
            if isinstance(piece, Kept):
                old = piece.segment
                for start, end in piece.ranges():
                    chunks.write(old.chunks.raw(start, end))
                for j in piece.docs:
                    documents.write(old.documents.raw(j, j + 1))
            else:
                for chunk in piece.chunks:
                    chunks.write(_chunk_json(chunk).encode("utf-8") + b"\n")
                for doc in piece.documents:
                    documents.write(document_json(doc).encode("utf-8") + b"\n")
        _sync(chunks)
        _sync(documents)
    vectors, sentences, postings, hashes = [], [], [], []
    for piece in pieces:
        if isinstance(piece, Kept):
            ranges, old = piece.ranges(), piece.segment
            vectors += [old.vectors[s:e] for s, e in ranges]
            hashes += [old.hashes[s:e] for s, e in ranges]
            sentences.append(old.sentences.take(ranges))
            keep = np.concatenate([np.arange(s, e) for s, e in ranges] or [np.zeros(0, int)])
            postings.append(old.postings.take(keep))
        else:
            vectors.append(piece.vectors)
            hashes.append(piece.hashes)
            sentences.append(piece.sentences)
            postings.append(Postings.from_ids(piece.term_ids, vocabulary_size).as_part())
    dimension = next((v.shape[1] for v in vectors if v.ndim == 2), 0)
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dimension), np.float32)
    names = [CHUNKS, DOCUMENTS]
    _save_npy(folder / VECTORS, np.ascontiguousarray(matrix, dtype=np.float32))
    names.append(VECTORS)
    _save_npy(folder / HASHES, np.concatenate(hashes or [np.zeros(0, np.uint64)]))
    names.append(HASHES)
    names += SentenceVectors.join(sentences).save(folder)
    names += Postings.join(postings, vocabulary_size).save(folder)
    for name in names[3:]:
        fsync_path(folder / name)
    fsync_path(folder)
    return names


def link_segment(segment: Segment, folder: Path) -> list[str]:
    """The segment in a new version: its files hard-linked (copied where links fail)."""
    folder.mkdir()
    names = []
    for path in segment.files():
        try:
            os.link(path, folder / path.name)
        except OSError:  # a file system without hard links
            import shutil

            shutil.copyfile(path, folder / path.name)
            fsync_path(folder / path.name)
        names.append(path.name)
    fsync_path(folder)
    return names


def document_json(doc: Document) -> str:
    return json.dumps(
        {
            "doc_id": doc.doc_id,
            "title": doc.title,
            "path": doc.path,
            "sha256": doc.sha256,
            "paragraphs": doc.paragraphs,
            "pages": doc.pages,
            "sections": doc.sections,
            "code": doc.code,
            "metadata": dict(doc.metadata),
            "text": doc.text,
        },
        ensure_ascii=False,
    )


def document_from_dict(d: dict) -> Document:
    return Document(
        **{
            **d,
            "paragraphs": tuple(tuple(p) for p in d["paragraphs"]),
            "pages": tuple(tuple(p) for p in d.get("pages", ())),
            "sections": tuple(tuple(s) for s in d.get("sections", ())),
            "code": tuple(tuple(c) for c in d.get("code", ())),
            "metadata": tuple(d.get("metadata", {}).items()),
        }
    )


def document_entries(documents: list[Document], chunks: list[Chunk]) -> list[dict]:
    """The manifest's entries of these documents."""
    per_document = Counter(c.doc_id for c in chunks)
    return [
        {
            "doc_id": doc.doc_id,
            "title": display_title(doc.title, doc.path, doc.doc_id),
            "path": doc.path,
            "sha256": doc.sha256,
            "chars": len(doc.text),
            "paragraphs": len(doc.paragraphs),
            "chunks": per_document[doc.doc_id],
        }
        for doc in documents
    ]


def _chunk_json(chunk: Chunk) -> str:
    fields = asdict(chunk)
    del fields["chunk_id"]  # its row: set on load
    return json.dumps(fields, ensure_ascii=False)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def _sync(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())
