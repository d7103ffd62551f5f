"""The index folder: a plain, versioned, inspectable directory.

    manifest.json        format version, settings, segments, documents, source files (path,
                         content hash, when indexed), every data file's size and hash
    seg-NNNNNN/          the rows, in segments of whole documents (segments.py): chunk vectors
                         (stored once), sentence vectors, chunk and document lines, BM25 postings
    bm25_vocab.json      the BM25 vocabulary of every segment (lexical.py)
    background.npy       the generic questions kept as the reference for "not answerable"
    background_hits.npy  per generic question, how many chunks are close to it
    vectors.ivf          from 200,000 chunks on: the IVF index (8-bit codes) over all vectors

A write goes to a new sibling folder that is swapped in by one atomic exchange of the two folders
(renameat2 RENAME_EXCHANGE; two renames where the file system lacks it), under a lock, so readers
see either the old index or the new one, never a half-written one. Segments that do not change
are hard-linked from the old version, never written to. Only a folder that is one of these
indexes, holding nothing its manifest does not list, is ever replaced (`check_index_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, IndexIncompatibleError, IndexMissingError
from ..schema import Chunk, Document
from ..settings import IndexSettings, ModelSettings
from . import vectors as vector_index
from .guard import (
    ENTRIES,
    FORMAT,
    check_index_path,
    creating,
    occupied,
    parse_manifest,
    prepare,
    remember_manifest,
    with_documents,
)
from .jsonl import Joined, JsonLinesByKey
from .lexical import VOCAB, LexicalIndex, Vocabulary
from .segments import Fresh, Kept, Segment, link_segment, load_segment, write_segment
from .sentence_vectors import SentenceVectorSet
from .swap import fsync_dir, interrupted_swap, remove_leftovers, swap_in, writer_lock

FORMAT_VERSION = 3  # bump on any change to the files' layout or meaning
# 3: segments, vectors stored once, BM25 postings scored at question time, background counts
IVF, BACKGROUND, BACKGROUND_HITS = "vectors.ivf", "background.npy", "background_hits.npy"


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
    sentences: SentenceVectorSet | None = None  # highlight vectors; None: computed per question
    segments: tuple[Segment, ...] = ()
    background_hits: np.ndarray | None = None  # chunks close to each generic question

    @property
    def matrix(self) -> np.ndarray:
        """The chunk vectors, row i = chunk i (one segment's memory map, or a joined copy)."""
        return self.vectors.matrix


@dataclass(frozen=True)
class Background:
    """The generic questions' vectors kept for this version, with what decided it."""

    vectors: np.ndarray  # those with no chunk close to them
    hits: np.ndarray  # int64, per generic question: chunks at or above the cut
    key: str  # the cached question vectors they come from (model, precision, questions)


def rebuild_hint(index_dir: Path) -> str:
    return f"assistant ingest PATH... --rebuild --index {index_dir}"


def _rebuild_from_sources(manifest: dict, index_dir: Path) -> str:
    """The rebuild command with the folders the old index was built from (its sources)."""
    paths = [s.get("path") for s in manifest.get("sources") or [] if isinstance(s, dict)]
    folders = sorted({os.path.dirname(p) for p in paths if isinstance(p, str) and p})
    if not folders:
        return rebuild_hint(index_dir)
    if len(folders) > 3:
        folders = [os.path.commonpath(folders)]
    named = " ".join(shlex.quote(f) for f in folders)
    return f"assistant ingest {named} --rebuild --index {shlex.quote(str(index_dir))}"


def save(
    index_dir: Path,
    *,
    segments: list[Segment | list[Kept | Fresh]],
    documents: list[list[dict]],
    vocabulary: Vocabulary,
    background: Background,
    settings: IndexSettings,
    sources: list[dict] | None = None,
    old: Index | None = None,
    hook: Callable[[str], None] | None = None,
    lock: bool = True,
) -> None:
    """Writes a new version beside the old one and swaps it in: each item of `segments` is an
    old segment, hard-linked, or the pieces of a new one; `documents[i]` are the entries of
    the documents of segments[i], in row order (a new segment's are written in its folder).
    `hook(step)` is called between steps (tests use it to stop a write half-way)."""
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
            _write(new, index_dir, segments, documents, vocabulary, background, settings,
                   sources, old, hook)  # fmt: skip
            check_index_path(index_dir)  # again: files may have been put there meanwhile
            swap_in(new, index_dir, hook)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise


def _write(new, index_dir, segments, documents, vocabulary, background, settings, sources,
           old, hook) -> None:  # fmt: skip
    old_files = old.manifest.get("files", {}) if old is not None else {}
    files: dict[str, dict] = {}
    listed, blocks, number = [], [], _next_segment(old)
    for item, entries in zip(segments, documents, strict=True):
        if isinstance(item, Segment):
            name = item.name
            for file in link_segment(item, new / name):
                files[f"{name}/{file}"] = old_files.get(f"{name}/{file}") or _file_entry(
                    new / name / file
                )
            rows, docs = item.rows, len(item.entries)
        else:
            name, number = f"seg-{number:06d}", number + 1
            written = write_segment(new / name, item, len(vocabulary.ids))
            with open(new / name / ENTRIES, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(entries, ensure_ascii=False) + "\n")
            for file in [*written, ENTRIES]:
                files[f"{name}/{file}"] = _file_entry(new / name / file, sync=file == ENTRIES)
            rows = sum(p.rows for p in item)
            docs = sum(len(_docs_of(p)) for p in item)
        listed.append({"name": name, "documents": docs, "chunks": rows})
        blocks.append(np.load(new / name / "vectors.npy", mmap_mode="r"))
    hook("segments")
    old_vocab = old.path / VOCAB if old is not None else None
    linked = False
    if old_vocab is not None and not vocabulary.grown and VOCAB in old_files:
        with contextlib.suppress(OSError):  # no hard links here: written instead
            os.link(old_vocab, new / VOCAB)
            files[VOCAB], linked = old_files[VOCAB], True
    if not linked:
        vocabulary.save(new / VOCAB)
        files[VOCAB] = _file_entry(new / VOCAB, sync=True)
    hook("bm25")
    n = sum(s["chunks"] for s in listed)
    ivf = None
    if vector_index.approximate(n, settings.vectors):
        trained = old.vectors.faiss if old is not None else None
        ivf = vector_index.build(blocks, settings.vectors, trained=trained)
        vector_index.save(ivf, new / IVF)
        files[IVF] = _file_entry(new / IVF, sync=True)
        hook("vectors.ivf")
    for name, array in ((BACKGROUND, background.vectors), (BACKGROUND_HITS, background.hits)):
        with open(new / name, "wb") as handle:
            np.save(handle, array)
        files[name] = _file_entry(new / name, sync=True)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **settings.to_manifest(),
        "vector_index": {**settings.vectors.to_dict(), **vector_index.describe(ivf, n)},
        "counts": {"documents": sum(len(e) for e in documents), "chunks": n},
        "segments": listed,
        "background": {"key": background.key, "kept": len(background.vectors)},
        "sources": sources or [],
        "files": dict(sorted(files.items())),
    }
    lines = (f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in manifest.items())
    with open(new / "manifest.json", "w", encoding="utf-8") as handle:  # a key a line: fast
        handle.write("{\n" + ",\n".join(lines) + "\n}\n")
        handle.flush()
        os.fsync(handle.fileno())
    remember_manifest(new / "manifest.json", manifest)  # this process reads it next
    fsync_dir(new)
    hook("manifest")


def _docs_of(piece: Kept | Fresh) -> list:
    return piece.docs if isinstance(piece, Kept) else piece.documents


def _next_segment(old: Index | None) -> int:
    numbers = [int(s.name.rsplit("-", 1)[1]) for s in old.segments] if old is not None else []
    return max(numbers, default=0) + 1


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
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        older = isinstance(version, int) and version < FORMAT_VERSION
        raise IndexIncompatibleError(
            str(index_dir),
            f"it has format version {version}, "
            + ("written by an older version of this assistant; " if older else "")
            + f"this assistant reads version {FORMAT_VERSION}",
            _rebuild_from_sources(manifest, shown) if older else hint,
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
        vocabulary = Vocabulary.load(index_dir / VOCAB)
        segments, first_doc, first_row = [], 0, 0
        entries = manifest["documents"]
        for listed in manifest["segments"]:
            mine = entries[first_doc : first_doc + int(listed["documents"])]
            segment = load_segment(
                index_dir / listed["name"], mine, first_row, len(vocabulary.ids), corrupt
            )
            if segment.rows != int(listed["chunks"]):
                raise ValueError(f"{listed['name']} holds {segment.rows} chunks, not its count")
            segments.append(segment)
            first_doc, first_row = first_doc + len(mine), first_row + segment.rows
        if first_doc != len(entries):
            raise ValueError("the segments do not hold every document")
        chunks = Joined([s.chunks for s in segments])
        documents = JsonLinesByKey(
            Joined([s.documents for s in segments]),
            [d["doc_id"] for d in entries],
            key_of=lambda d: d.doc_id,
        )
        ivf = (
            vector_index.load(index_dir / IVF, settings.vectors)
            if (index_dir / IVF).is_file()
            else None
        )
        vectors = vector_index.VectorSearch(
            ivf, [s.vectors for s in segments], settings.vectors, model.dimension
        )
        lexical_index = LexicalIndex(vocabulary, [s.postings for s in segments], settings.lexical)
        background = np.load(index_dir / BACKGROUND)
        hits = np.load(index_dir / BACKGROUND_HITS)
        sentences = SentenceVectorSet([s.sentences for s in segments])
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, OSError) as exc:
        raise IndexCorruptError(str(index_dir), f"cannot parse it: {exc}", hint) from None
    n = manifest["counts"]["chunks"]
    if not (vectors.ntotal == len(chunks) == n) or (ivf is not None and ivf.ntotal != n):
        raise IndexCorruptError(str(index_dir), "vector and chunk counts differ", hint)
    if any(s.vectors.ndim != 2 or s.vectors.shape[1] != model.dimension for s in segments):
        raise refuse(f"its vectors are not of the model's {model.dimension} dimensions")
    return Index(
        shown, manifest, settings, chunks, documents, vectors, lexical_index, background,
        sentences, tuple(segments), hits,
    )  # fmt: skip


def read_manifest(index_dir: Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    if not path.is_file():
        raise IndexMissingError(str(index_dir), occupied=occupied(index_dir))
    try:
        manifest = parse_manifest(path)
        if not isinstance(manifest, dict):
            raise ValueError("it is not a JSON object")
    except (ValueError, OSError) as exc:
        raise IndexCorruptError(
            str(index_dir),
            f"manifest.json is unreadable: {exc}",
            f"assistant ingest PATH... --index {index_dir}, once you have deleted {index_dir} "
            "(check that it holds nothing else of yours)",
        ) from None
    try:
        return with_documents(Path(index_dir), manifest)  # another layout: as it is
    except (ValueError, OSError, TypeError, KeyError) as exc:
        raise IndexCorruptError(
            str(index_dir), f"a segment's {ENTRIES} is unreadable ({exc})", rebuild_hint(index_dir)
        ) from None


def _file_entries(folder: Path, hashes: bool = True) -> dict[str, dict]:
    """Size and hash of every data file (all but the manifest), by path relative to the folder."""
    return {
        str(p.relative_to(folder)): _file_entry(p) if hashes else {"bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _file_entry(path: Path, sync: bool = False) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if sync:
            os.fsync(handle.fileno())
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
