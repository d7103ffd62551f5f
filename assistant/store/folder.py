"""The index folder: a plain, versioned, inspectable directory.

    manifest.json     format version, model, chunker and retrieval settings, documents, source
                      files (path, content hash, when indexed), data file hashes
    vectors.npy       the chunk vectors (float32, one row per chunk): the source of truth, reused
                      by incremental ingests
    vectors.faiss     the FAISS index built from them (inner product over L2-normalised vectors)
    bm25/             the lexical index (bm25s) over the chunk texts
    background.npy    vectors of generic everyday questions, the reference for "not answerable"
    chunks.jsonl      one chunk per line, in vector order
    documents.jsonl   each document's extracted text and paragraph spans, for exact citations

A write goes to a new sibling folder that is swapped in by one atomic exchange of the two folders
(renameat2 RENAME_EXCHANGE; two renames where the file system lacks it), under a lock, so readers
see either the old index or the new one, never a half-written one. Only a folder that is one of
these indexes, holding nothing its manifest does not list, is ever replaced (`check_index_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, IndexIncompatibleError, IndexMissingError
from ..schema import Chunk, Document, display_title
from ..settings import IndexSettings, ModelSettings
from . import vectors as vector_index
from .guard import FORMAT, check_index_path, creating, occupied, prepare
from .jsonl import JsonLines, JsonLinesByKey
from .lexical import LexicalIndex
from .sentence_vectors import SentenceVectors
from .swap import fsync_dir, interrupted_swap, remove_leftovers, swap_in, writer_lock

FORMAT_VERSION = 2  # bump on any change to the files' layout or meaning


@dataclass(frozen=True)
class Index:
    path: Path
    manifest: dict
    settings: IndexSettings  # what it was built with, read back from its manifest
    chunks: Sequence[Chunk]  # row i = chunk i, each line parsed when first read
    documents: Mapping[str, Document]  # by doc_id, in manifest order, parsed when first read
    vectors: vector_index.VectorSearch  # search over the chunk vectors, scores exact
    lexical: LexicalIndex
    background: np.ndarray
    sentences: SentenceVectors | None = None  # highlight vectors; None: computed per question

    @property
    def matrix(self) -> np.ndarray:
        """The chunk vectors (vectors.npy, memory-mapped), row i = chunk i."""
        return self.vectors.matrix


def rebuild_hint(index_dir: Path) -> str:
    return f"assistant ingest PATH... --rebuild --index {index_dir}"


def save(
    index_dir: Path,
    *,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    lexical: LexicalIndex,
    background: np.ndarray,
    settings: IndexSettings,
    sources: list[dict] | None = None,
    hook=None,
    lock: bool = True,
    sentences: SentenceVectors | None = None,
) -> None:
    """Writes a complete new version beside the old one and swaps it in. `hook(step)` is called
    between steps (tests use it to stop a write half-way)."""
    hook = hook or (lambda step: None)
    index_dir = Path(index_dir)
    if lock:  # a caller that holds the lock (ingest, remove) has checked the path already
        prepare(index_dir)
    with writer_lock(index_dir) if lock else contextlib.nullcontext():
        remove_leftovers(index_dir)
        with creating(index_dir):
            new = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.new-", dir=index_dir.parent))
        new.chmod(0o755)
        try:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            _save_npy(new / "vectors.npy", vectors)
            hook("vectors.npy")
            dense = vector_index.build(vectors, settings.vectors)
            vector_index.save(dense, new / "vectors.faiss")
            hook("vectors.faiss")
            _write_lines(new / "chunks.jsonl", (c.to_json() for c in chunks))
            _write_lines(new / "documents.jsonl", (_document_json(d) for d in documents))
            hook("jsonl")
            lexical.save(new / "bm25")
            _save_npy(new / "background.npy", background.astype(np.float32))
            if sentences is not None:
                sentences.save(new)
            hook("bm25")
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **settings.to_manifest(),
                "vector_index": {**settings.vectors.to_dict(), **vector_index.describe(dense)},
                "counts": {"documents": len(documents), "chunks": len(chunks)},
                "documents": _document_entries(documents, chunks),
                "sources": sources or [],
                "files": _file_entries(new),
            }
            _write_lines(
                new / "manifest.json", [json.dumps(manifest, indent=2, ensure_ascii=False)]
            )
            fsync_dir(new)
            hook("manifest")
            check_index_path(index_dir)  # again: files may have been put there meanwhile
            swap_in(new, index_dir, hook)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise


def version_of(index_dir: Path) -> tuple[int, int] | None:
    """Changes whenever a new version is swapped in (each version is a new folder)."""
    try:
        st = os.stat(Path(index_dir) / "manifest.json")
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def load_index(index_dir: Path, embedder, verify: bool = False) -> Index:
    """The index, to be searched with `embedder`'s vectors (refused when built with another
    model). `verify`: also check every file's sha256, not only its size."""
    return load(index_dir, model=ModelSettings.of(embedder), verify=verify)


def load(index_dir: Path, *, model: ModelSettings, verify: bool = False) -> Index:
    """Loads and checks an index; refuses one built with another format or model, with settings
    this version cannot use, or whose files are missing or of another size than recorded.
    `verify` also checks every file's sha256 (reading the whole index: about 1 s per 500 MB;
    `assistant info --verify`). A version swapped in while it was being read is read again."""
    for _attempt in range(5):
        before = version_of(index_dir)
        try:
            index = _load(index_dir, model=model, verify=verify)
        except (IndexCorruptError, IndexMissingError):
            if version_of(index_dir) == before:
                raise
            continue
        if version_of(index_dir) == before:
            return index
    return _load(index_dir, model=model, verify=verify)


def _load(index_dir: Path, *, model: ModelSettings, verify: bool = False) -> Index:
    shown = Path(index_dir)
    index_dir = interrupted_swap(shown) or shown  # read it where a killed writer left it
    manifest = read_manifest(index_dir)
    hint = rebuild_hint(shown)

    def refuse(reason: str) -> IndexIncompatibleError:
        return IndexIncompatibleError(str(index_dir), reason, hint)

    if manifest.get("format") != FORMAT:
        raise IndexIncompatibleError(
            str(index_dir),
            "it is not an index made by this assistant",
            hint,
            advice="It is left as it is; build an index in an empty or new folder: "
            "assistant ingest PATH... --index NEW_FOLDER",
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise refuse(
            f"it has format version {manifest.get('format_version')}, "
            f"this assistant reads version {FORMAT_VERSION}"
        )
    if manifest.get("model") != model.to_dict():
        raise refuse(f"it was built with model {manifest.get('model')}, not {model.to_dict()}")
    try:
        settings = IndexSettings.from_manifest(manifest)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(str(shown), f"its settings cannot be read ({exc})", hint) from None
    unusable = settings.unreadable_by_this_version()
    if unusable:
        raise refuse(unusable)

    expected, found = manifest.get("files", {}), _file_entries(index_dir, hashes=verify)
    for name in sorted(expected):  # files it does not list are not part of it (a write refuses)
        if name not in found:
            raise IndexCorruptError(str(index_dir), f"{name} is missing", hint)
        recorded = expected.get(name) or {}
        if any(recorded.get(key) != value for key, value in found[name].items()):
            raise IndexCorruptError(str(index_dir), f"{name} does not match its manifest", hint)

    def corrupt(reason: str) -> IndexCorruptError:
        return IndexCorruptError(str(index_dir), reason, hint)

    try:
        chunks = JsonLines(index_dir / "chunks.jsonl", Chunk.from_dict, corrupt)
        if len(chunks) and (chunks[0].chunk_id, chunks[-1].chunk_id) != (0, len(chunks) - 1):
            raise ValueError("chunk ids are not the rows of chunks.jsonl")
        documents = JsonLinesByKey(
            JsonLines(index_dir / "documents.jsonl", _document_from_dict, corrupt),
            [d["doc_id"] for d in manifest["documents"]],
            key_of=lambda d: d.doc_id,
        )
        matrix = np.load(index_dir / "vectors.npy", mmap_mode="r")
        vectors = vector_index.VectorSearch(
            vector_index.load(index_dir / "vectors.faiss", settings.vectors),
            matrix,
            settings.vectors,
        )
        lexical_index = LexicalIndex.load(index_dir / "bm25", settings.lexical)
        background = np.load(index_dir / "background.npy")
        sentences = SentenceVectors.load(index_dir, len(chunks))
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, OSError) as exc:
        raise IndexCorruptError(str(index_dir), f"cannot parse it: {exc}", hint) from None
    if not (vectors.ntotal == len(chunks) == len(matrix) == manifest["counts"]["chunks"]):
        raise IndexCorruptError(str(index_dir), "vector and chunk counts differ", hint)
    if vectors.d != model.dimension:
        raise refuse(f"its vectors have {vectors.d} dimensions, the model makes {model.dimension}")
    return Index(
        shown,
        manifest,
        settings,
        chunks,
        documents,
        vectors,
        lexical_index,
        background,
        sentences,
    )


def read_manifest(index_dir: Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    if not path.is_file():
        raise IndexMissingError(str(index_dir), occupied=occupied(index_dir))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise IndexCorruptError(
            str(index_dir),
            f"manifest.json is unreadable: {exc}",
            f"assistant ingest PATH... --index {index_dir}, once you have deleted {index_dir} "
            "(check that it holds nothing else of yours)",
        ) from None


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)
        handle.flush()
        os.fsync(handle.fileno())


def _document_json(doc: Document) -> str:
    return json.dumps(
        {
            "doc_id": doc.doc_id,
            "title": doc.title,
            "path": doc.path,
            "sha256": doc.sha256,
            "paragraphs": doc.paragraphs,
            "pages": doc.pages,
            "sections": doc.sections,
            "metadata": dict(doc.metadata),
            "text": doc.text,
        },
        ensure_ascii=False,
    )


def _document_from_dict(d: dict) -> Document:
    return Document(
        **{
            **d,
            "paragraphs": tuple(tuple(p) for p in d["paragraphs"]),
            "pages": tuple(tuple(p) for p in d.get("pages", ())),
            "sections": tuple(tuple(s) for s in d.get("sections", ())),
            "metadata": tuple(d.get("metadata", {}).items()),
        }
    )


def _document_entries(documents: list[Document], chunks: list[Chunk]) -> list[dict]:
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


def _file_entries(folder: Path, hashes: bool = True) -> dict[str, dict]:
    """Size and hash of every data file (all but the manifest), by path relative to the folder."""
    return {
        str(p.relative_to(folder)): _file_entry(p) if hashes else {"bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _file_entry(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _write_lines(path: Path, lines) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
