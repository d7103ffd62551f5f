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
import ctypes
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import vector_index
from .errors import (
    IndexCorruptError,
    IndexIncompatibleError,
    IndexLockedError,
    IndexMissingError,
    IndexPathError,
)
from .jsonlines import JsonLines, JsonLinesByKey
from .lexical import LexicalIndex, LexicalSettings
from .schema import Chunk, Document, display_title
from .sentence_vectors import SentenceVectors

FORMAT = "citation-assistant-index"
FORMAT_VERSION = 2  # bump on any change to the files' layout or meaning


@dataclass(frozen=True)
class Index:
    path: Path
    manifest: dict
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

    @property
    def settings(self) -> dict:
        return self.manifest["retrieval"]


def rebuild_hint(index_dir: Path) -> str:
    return f"assistant ingest PATH... --rebuild --index {index_dir}"


def index_manifest(folder: Path) -> dict | None:
    """The manifest of the index of this assistant in `folder`; None when it holds none."""
    try:
        fd = os.open(Path(folder) / "manifest.json", os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            if FORMAT.encode() not in handle.read(4096):  # ours names its format first
                return None
            handle.seek(0)
            manifest = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None


def check_index_path(index_dir: Path) -> None:
    """Refuses a path where writing an index would destroy something else: a file, a link, a
    folder that is not an index of this assistant, or one holding files its manifest does not
    list. A new path or an empty folder is fine."""
    index_dir = Path(index_dir)
    shown = str(index_dir)
    if os.path.islink(index_dir):
        raise IndexPathError(
            shown, f"it is a link (to {os.readlink(index_dir)})", "Give the folder it points to."
        )
    if not os.path.lexists(index_dir):
        return
    if not index_dir.is_dir():
        raise IndexPathError(shown, "it is a file, not an index folder")
    try:
        names = sorted(os.listdir(index_dir))
    except OSError as exc:
        raise IndexPathError(shown, f"its contents cannot be listed ({exc.strerror})") from None
    manifest = index_manifest(index_dir)
    if names and manifest is None:
        raise IndexPathError(
            shown,
            f"it holds {_count(names, 'file or folder', 'files or folders')} "
            f"(e.g. {', '.join(names[:3])}) and no index of this assistant",
        )
    unlisted = _unlisted(index_dir, manifest or {})
    if unlisted:
        raise IndexPathError(
            shown,
            f"it is an index, but also holds "
            f"{_count(unlisted, 'file or folder', 'files or folders')} its manifest does not "
            f"list: {', '.join(unlisted[:5])}",
            f"Move them out of {shown}, then run this again.",
        )


def prepare(index_dir: Path) -> None:
    """Checks the index path (`check_index_path`) and creates its parent folder."""
    check_index_path(index_dir)
    with _creating(index_dir):
        Path(index_dir).parent.mkdir(parents=True, exist_ok=True)


def _occupied(path: Path) -> bool:
    """Something is there: a file, or a folder that is not empty (or cannot be listed)."""
    if not os.path.lexists(path):
        return False
    try:
        return not os.path.isdir(path) or bool(os.listdir(path))
    except OSError:
        return True


def _unlisted(index_dir: Path, manifest: dict) -> list[str]:
    """Files and folders in an index folder that are not part of the index."""
    listed = set(manifest.get("files") or {}) | {"manifest.json"}
    listed |= {str(parent) for name in listed for parent in Path(name).parents}
    unlisted = []
    for dirpath, dirnames, filenames in os.walk(index_dir):
        folder = os.path.relpath(dirpath, index_dir)
        relative = {n: os.path.normpath(os.path.join(folder, n)) for n in dirnames + filenames}
        unlisted += [r for r in relative.values() if r not in listed]
        dirnames[:] = [d for d in dirnames if relative[d] in listed]  # an unlisted one: named once
    return sorted(unlisted)


def _count(items: Sequence, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


@contextlib.contextmanager
def _creating(index_dir: Path) -> Iterator[None]:
    """Turns a failure to create the lock file or the new folder into a clear message."""
    try:
        yield
    except OSError as exc:
        raise IndexPathError(
            str(index_dir),
            f"cannot create files in {Path(index_dir).parent} ({exc.strerror or exc})",
            "Choose a folder you can write to (--index FOLDER), or make this one writable.",
        ) from None


def save(
    index_dir: Path,
    *,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    lexical: LexicalIndex,
    background: np.ndarray,
    model: dict,
    chunker: dict,
    retrieval: dict,
    sources: list[dict] | None = None,
    hook=None,
    lock: bool = True,
    vector_settings: vector_index.VectorIndexSettings | None = None,
    sentences: SentenceVectors | None = None,
) -> None:
    """Writes a complete new version beside the old one and swaps it in. `hook(step)` is called
    between steps (tests use it to stop a write half-way)."""
    hook = hook or (lambda step: None)
    index_dir = Path(index_dir)
    vector_settings = vector_settings or vector_index.VectorIndexSettings()
    prepare(index_dir)
    with writer_lock(index_dir) if lock else contextlib.nullcontext():
        remove_leftovers(index_dir)
        with _creating(index_dir):
            new = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.new-", dir=index_dir.parent))
        new.chmod(0o755)
        try:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            _save_npy(new / "vectors.npy", vectors)
            hook("vectors.npy")
            dense = vector_index.build(vectors, vector_settings)
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
                "model": model,
                "chunker": chunker,
                "lexical": lexical.settings.to_dict(),
                "retrieval": retrieval,
                "vector_index": {**vector_settings.to_dict(), **vector_index.describe(dense)},
                "counts": {"documents": len(documents), "chunks": len(chunks)},
                "documents": _document_entries(documents, chunks),
                "sources": sources or [],
                "files": _file_entries(new),
            }
            _write_lines(
                new / "manifest.json", [json.dumps(manifest, indent=2, ensure_ascii=False)]
            )
            _fsync_dir(new)
            hook("manifest")
            check_index_path(index_dir)  # again: files may have been put there meanwhile
            _swap_in(new, index_dir, hook)
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


def load(
    index_dir: Path, *, model: dict, chunker: dict, lexical: dict, verify: bool = False
) -> Index:
    """Loads and checks an index; refuses one built with another format, model or chunker, or
    whose files are missing or of another size than recorded. `verify` also checks every file's
    sha256 (reading the whole index: about 1 s per 500 MB; `assistant info --verify`). A version
    swapped in while it was being read is read again."""
    for _attempt in range(5):
        before = version_of(index_dir)
        try:
            index = _load(index_dir, model=model, chunker=chunker, lexical=lexical, verify=verify)
        except (IndexCorruptError, IndexMissingError):
            if version_of(index_dir) == before:
                raise
            continue
        if version_of(index_dir) == before:
            return index
    return _load(index_dir, model=model, chunker=chunker, lexical=lexical, verify=verify)


def _load(
    index_dir: Path, *, model: dict, chunker: dict, lexical: dict, verify: bool = False
) -> Index:
    index_dir = Path(index_dir)
    _recover_interrupted_swap(index_dir)
    manifest = read_manifest(index_dir)
    hint = rebuild_hint(index_dir)

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
    if manifest.get("model") != model:
        raise refuse(f"it was built with model {manifest.get('model')}, not {model}")
    if manifest.get("chunker") != chunker:
        raise refuse(f"it was built with chunker settings {manifest.get('chunker')}, not {chunker}")
    if manifest.get("lexical") != lexical:
        raise refuse(f"it was built with lexical settings {manifest.get('lexical')}, not {lexical}")

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
        search_settings = vector_index.VectorIndexSettings.from_dict(manifest.get("vector_index"))
        matrix = np.load(index_dir / "vectors.npy", mmap_mode="r")
        vectors = vector_index.VectorSearch(
            vector_index.load(index_dir / "vectors.faiss", search_settings),
            matrix,
            search_settings,
        )
        lexical_index = LexicalIndex.load(index_dir / "bm25", LexicalSettings(**lexical))
        background = np.load(index_dir / "background.npy")
        sentences = SentenceVectors.load(index_dir, len(chunks))
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, OSError) as exc:
        raise IndexCorruptError(str(index_dir), f"cannot parse it: {exc}", hint) from None
    if not (vectors.ntotal == len(chunks) == len(matrix) == manifest["counts"]["chunks"]):
        raise IndexCorruptError(str(index_dir), "vector and chunk counts differ", hint)
    if vectors.d != model["dimension"]:
        raise refuse(
            f"its vectors have {vectors.d} dimensions, the model makes {model['dimension']}"
        )
    return Index(
        index_dir,
        manifest,
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
        raise IndexMissingError(str(index_dir), occupied=_occupied(index_dir))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise IndexCorruptError(
            str(index_dir),
            f"manifest.json is unreadable: {exc}",
            f"assistant ingest PATH... --index {index_dir}, once you have deleted {index_dir} "
            "(check that it holds nothing else of yours)",
        ) from None


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    import fcntl

    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with _creating(index_dir):
        handle = open(lock_path, "w")  # noqa: SIM115 (closed below)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(str(index_dir)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _swap_in(new: Path, index_dir: Path, hook=None) -> None:
    hook = hook or (lambda step: None)
    if not index_dir.exists():
        os.rename(new, index_dir)
    elif _exchange(new, index_dir):  # one atomic step: `new` now holds the old version
        hook("swapped")
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}-{time.time_ns()}"
        os.rename(index_dir, old)
        hook("renamed-old")
        # a crash between these two renames is undone by _recover_interrupted_swap
        os.rename(new, index_dir)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(index_dir.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0


def _recover_interrupted_swap(index_dir: Path) -> None:
    if index_dir.exists():
        return
    olds = sorted(index_dir.parent.glob(f".{index_dir.name}.old-*"))
    if olds and (olds[-1] / "manifest.json").is_file():
        with contextlib.suppress(OSError):
            os.rename(olds[-1], index_dir)


def remove_leftovers(index_dir: Path) -> None:
    """New folders of interrupted writes, old ones of finished swaps (we hold the lock)."""
    _recover_interrupted_swap(index_dir)
    for pattern in (f".{index_dir.name}.new-*", f".{index_dir.name}.old-*"):
        for leftover in index_dir.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
