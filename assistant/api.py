"""The Python API. The CLI and the web app are thin layers over these few calls:

from assistant import Assistant, ingest
ingest(["docs/"], index_dir="index/default")
answer = Assistant.open("index/default").ask("Who condemned the PKK?", k=3)
answer.to_dict()  # the JSON contract
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import store
from .chunking import ChunkerSettings, chunk_document, embedding_text
from .citations import best_sentence, content_words, sentences_of, source_for
from .conversation import question_parts, search_text
from .documents import (
    display_path,
    find_files,
    read_document,
    read_documents,
    read_file_bytes,
    walk,
)
from .embedding import Embedder, Progress, get_embedder
from .errors import (
    AssistantError,
    DocumentError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    InvalidArgumentError,
    NoDocumentsError,
)
from .lexical import LexicalIndex, LexicalSettings, lexical_text
from .retrieval import RetrievalSettings, Retriever, check_mode
from .schema import Answer, Chunk, Document, Passage, display_title
from .sentence_vectors import SentenceVectors
from .validation import MAX_K, MAX_QUESTION_CHARS, validate_k, validate_question  # noqa: F401

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


def _index_path(index_dir: str | Path | None) -> Path:
    """The index folder as an absolute path; a link to it is followed, so the folder, not the
    link, is what a write replaces."""
    path = Path(index_dir) if index_dir else default_index_dir()
    return Path(os.path.realpath(path) if path.is_symlink() else os.path.abspath(path))


def model_settings(embedder: Embedder) -> dict:
    return {"name": embedder.name, "dimension": embedder.dimension, "window": embedder.window}


@dataclass
class IngestReport:
    """What an ingest did. Paths are as shown to the user; failures name their file."""

    index_dir: Path
    documents: int = 0  # documents in the index afterwards
    chunks: int = 0
    tokens: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "path (same content as other)"
    kept: list[str] = field(default_factory=list)  # failed now, earlier version kept
    embedded: int = 0  # chunks embedded by this run
    reused: int = 0  # chunks whose vectors were reused
    written: bool = False  # False: nothing changed (or nothing could be read)
    seconds: float = 0.0
    failures: list[DocumentError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class IndexedDocument:
    """One indexed source file, as `assistant list` shows it."""

    title: str
    path: str  # absolute path of the file it was read from
    shown: str  # the path citations show
    chunks: int
    indexed_at: str
    doc_ids: tuple[str, ...]
    sha256: str
    bytes: int
    same_as: str = ""  # identical content to this (indexed) file: indexed once, under it

    def to_dict(self) -> dict:
        return {**asdict(self), "doc_ids": list(self.doc_ids)}


@dataclass
class _Source:
    """A source file in the index being built: its manifest entry and its documents."""

    entry: dict
    documents: list[Document] = field(default_factory=list)
    reuse: bool = True  # documents come from the old index, with their chunks and vectors


def ingest(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    rebuild: bool = False,
    skip_bad: bool = True,
    embedder: Embedder | None = None,
    chunker: ChunkerSettings | None = None,
    retrieval: RetrievalSettings | None = None,
    lexical: LexicalSettings | None = None,
    progress: Callable[[int], Progress] | None = None,
    hook: Callable[[str], None] | None = None,
    ray: bool = False,
    ray_address: str | None = None,
) -> IngestReport:
    """Adds and updates the files under `paths` in the index and removes the indexed files under
    `paths` that no longer exist; everything else indexed stays. Only files whose content hash
    changed are read again, and only chunks whose text is new are embedded. A file that fails
    is reported in `failures` (an earlier indexed version of it is kept) and the rest goes on;
    with `skip_bad=False` any failure writes nothing. Files with identical bytes are indexed
    once. `rebuild` starts from an empty index. The new version is swapped in atomically.
    `progress(total)` may return a callback told how many chunks each step embedded.
    `ray`: embed on a Ray cluster (`ray_address`, $RAY_ADDRESS, or a local instance)."""
    started = time.monotonic()
    paths = list(paths)
    index_dir = _index_path(index_dir)
    report = IngestReport(index_dir)
    store.prepare(index_dir)  # refuses a path whose contents are not ours to replace
    embedder = embedder or get_embedder()
    with store.writer_lock(index_dir):
        store.remove_leftovers(index_dir)  # of writers killed earlier
        old = None if rebuild else _existing_index(index_dir, embedder)
        sources = _plan(paths, old, report)
        if report.failures and not skip_bad:
            report.seconds = time.monotonic() - started
            return report
        if old is not None and not report.changed:
            _count(report, old.chunks, len(old.documents))
        else:
            if not any(s.documents for s in sources):
                lines = "".join(f"\n  {f}" for f in report.failures)
                if old is not None:
                    raise NoDocumentsError(
                        "This would leave the index empty; nothing was changed. To start "
                        f"over, delete {index_dir} or ingest other files with --rebuild.{lines}"
                    )
                raise NoDocumentsError(
                    f"None of the files could be read: nothing was indexed.{lines}"
                )
            _write(
                index_dir, sources, old, report, embedder, chunker, retrieval, lexical,
                progress, hook, ray, ray_address,
            )  # fmt: skip
    report.seconds = time.monotonic() - started
    return report


def remove(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    embedder: Embedder | None = None,
    hook: Callable[[str], None] | None = None,
) -> IngestReport:
    """Removes from the index the files at or under `paths` (or with these document ids or
    shown paths), whether or not they still exist on disk. Nothing is embedded."""
    started = time.monotonic()
    index_dir = _index_path(index_dir)
    report = IngestReport(index_dir)
    store.read_manifest(index_dir)  # a clear error when there is no index
    store.check_index_path(index_dir)
    embedder = embedder or get_embedder()
    with store.writer_lock(index_dir):
        old = load_index(index_dir, embedder)
        targets = [str(p) for p in paths]
        roots = [os.path.abspath(t) for t in targets]
        sources = []
        for entry in _old_sources(old):
            ids = set(entry["doc_ids"]) | {entry["shown"], entry["path"]}
            if _under(entry["path"], roots) or ids & set(targets):
                report.removed.append(entry["shown"])
            else:
                sources.append(_Source(entry, [old.documents[i] for i in entry["doc_ids"]]))
        if not report.removed:
            raise InvalidArgumentError(
                "Nothing indexed matches " + ", ".join(targets) + "; `assistant list` shows "
                "what is indexed."
            )
        _promote_duplicates(sources)
        if not any(s.documents for s in sources):
            raise NoDocumentsError(
                "This would leave the index empty; nothing was changed. To start over, delete "
                f"{index_dir} or ingest other files with --rebuild."
            )
        _write(index_dir, sources, old, report, embedder, None, None, None, None, hook)
    report.seconds = time.monotonic() - started
    return report


def list_documents(index_dir: str | Path | None = None) -> list[IndexedDocument]:
    """The indexed source files, in index order (reads only the manifest)."""
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    manifest = store.read_manifest(index_dir)
    chunks = {d["doc_id"]: d.get("chunks", 0) for d in manifest.get("documents", [])}
    titles = {d["doc_id"]: d.get("title", "") for d in manifest.get("documents", [])}
    result = []
    sources = manifest.get("sources", [])
    title_of_path = {e["path"]: e.get("title", "") for e in sources}
    for entry in sources:
        ids = tuple(entry.get("doc_ids", ()))
        title = entry.get("title") or (titles.get(ids[0], "") if ids else "")
        title = title or title_of_path.get(entry.get("same_as") or "", "")
        result.append(
            IndexedDocument(
                title=title if len(ids) <= 1 else f"{title} ({len(ids)} records)",
                path=entry["path"],
                shown=entry.get("shown", entry["path"]),
                chunks=sum(chunks.get(i, 0) for i in ids),
                indexed_at=entry.get("indexed_at", ""),
                doc_ids=ids,
                sha256=entry.get("sha256", ""),
                bytes=entry.get("bytes", 0),
                same_as=entry.get("same_as") or "",
            )
        )
    return result


def _existing_index(index_dir: Path, embedder: Embedder) -> store.Index | None:
    try:
        return load_index(index_dir, embedder)
    except IndexMissingError:
        return None


def _old_sources(old: store.Index | None) -> list[dict]:
    """The old index's source entries (made up from its documents for an index without them)."""
    if old is None:
        return []
    if "sources" in old.manifest:
        return [dict(e) for e in old.manifest["sources"]]
    return [
        {"path": os.path.abspath(d.path), "shown": d.path, "sha256": d.sha256, "bytes": 0,
         "id": d.doc_id, "doc_ids": [d.doc_id], "same_as": None, "indexed_at": "", "title": d.title}
        for d in old.documents.values()
    ]  # fmt: skip


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _plan(paths: list, old: store.Index | None, report: IngestReport) -> list[_Source]:
    """The sources of the new version: the old ones outside `paths`, and what `paths` hold."""
    found = walk(paths)
    report.notes.extend(found.notes)
    report.failures.extend(found.failures)
    roots = [os.path.abspath(p) for p in paths]
    old_entries = _old_sources(old)
    by_path = {e["path"]: e for e in old_entries}
    for missing in found.missing:
        gone = [e for e in old_entries if _under(e["path"], [os.path.abspath(missing)])]
        if gone:
            report.notes.append(f"{missing} no longer exists: its {len(gone)} file(s) are removed")
        else:
            report.failures.append(DocumentError(str(missing), "no such file or folder"))

    # pass 1: hash every file found (reading it once; parsing waits until it is needed)
    walked: list[tuple[Path, str, dict]] = []  # (file, shown, entry)
    failed: set[str] = set()
    taken = {e["id"] for e in old_entries}
    for file, base in found.files:
        absolute, shown = os.path.abspath(file), display_path(file)
        try:
            raw = read_file_bytes(file)
        except DocumentError as exc:
            _fail(report, exc, by_path.get(absolute), failed, absolute)
            continue
        previous = by_path.get(absolute)
        if previous:
            file_id = previous["id"]
        else:
            file_id, n = base, 1
            while file_id in taken:
                n += 1
                file_id = f"{base}-{n}"
            taken.add(file_id)
        entry = {
            "path": absolute, "shown": shown, "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw), "id": file_id, "doc_ids": [], "same_as": None,
            "indexed_at": "", "title": "",
        }  # fmt: skip
        walked.append((file, shown, entry))

    # the sources kept as they are: outside `paths`, or failed now (their earlier version)
    kept = [
        e for e in old_entries
        if not _under(e["path"], roots) or e["path"] in failed
    ]  # fmt: skip
    seen = {entry["path"] for _, _, entry in walked}
    for e in old_entries:
        if e not in kept and e["path"] not in seen:
            report.removed.append(e["shown"])

    # identical bytes are indexed once: an earlier indexed copy stays the one indexed
    primary: dict[str, str] = {}
    unchanged_primaries = {
        e["path"] for e in old_entries
        if not e.get("same_as") and (e in kept or any(
            w["path"] == e["path"] and w["sha256"] == e["sha256"] for _, _, w in walked))
    }  # fmt: skip
    for e in old_entries:
        if e["path"] in unchanged_primaries:
            primary.setdefault(e["sha256"], e["path"])
    sources = [_Source(e, [old.documents[i] for i in e["doc_ids"]]) for e in kept]
    shown_of = {e["path"]: e["shown"] for e in old_entries} | {w["path"]: s for _, s, w in walked}
    for file, shown, entry in walked:
        previous = by_path.get(entry["path"])
        first = primary.setdefault(entry["sha256"], entry["path"])
        if first != entry["path"]:
            entry["same_as"] = first
            entry["indexed_at"] = previous["indexed_at"] if previous else _now()
            sources.append(_Source(entry))
            report.duplicates.append(f"{shown} (same content as {shown_of[first]})")
            if previous and not previous.get("same_as"):
                report.updated.append(shown)  # its documents go: the other copy holds them
            continue
        if previous and previous["sha256"] == entry["sha256"] and not previous.get("same_as"):
            sources.append(_Source(previous, [old.documents[i] for i in previous["doc_ids"]]))
            report.unchanged.append(shown)
            continue
        try:
            raw = read_file_bytes(file)  # read again: it may have changed since it was hashed
            entry["sha256"], entry["bytes"] = hashlib.sha256(raw).hexdigest(), len(raw)
            documents = read_documents(file, entry["id"], raw)
        except DocumentError as exc:
            _fail(report, exc, previous, failed, entry["path"])
            if previous:
                sources.append(_Source(previous, [old.documents[i] for i in previous["doc_ids"]]))
            continue
        except Exception as exc:  # a reader bug must not stop the batch
            error = DocumentError(shown, f"could not be read ({type(exc).__name__}: {exc})")
            _fail(report, error, previous, failed, entry["path"])
            if previous:
                sources.append(_Source(previous, [old.documents[i] for i in previous["doc_ids"]]))
            continue
        entry["doc_ids"] = [d.doc_id for d in documents]
        entry["title"] = display_title(documents[0].title, shown, documents[0].doc_id)
        entry["indexed_at"] = _now()
        sources.append(_Source(entry, documents, reuse=False))
        (report.updated if previous else report.added).append(shown)
    _promote_duplicates(sources)
    return sources


def _fail(report, error: DocumentError, previous, failed: set[str], path: str) -> None:
    report.failures.append(error)
    if previous:
        failed.add(path)
        report.kept.append(previous["shown"])


def _promote_duplicates(sources: list[_Source]) -> None:
    """A copy whose indexed original was removed becomes the indexed one (no re-embedding:
    the same text gives the same chunks, whose vectors are reused by text)."""
    indexed = {s.entry["path"] for s in sources if not s.entry.get("same_as")}
    promoted: dict[str, str] = {}
    for source in sources:
        original = source.entry.get("same_as")
        if not original or original in indexed:
            continue
        if original in promoted:
            source.entry["same_as"] = promoted[original]
            continue
        try:
            documents = read_documents(Path(source.entry["path"]), source.entry["id"])
        except DocumentError:
            continue  # the copy is gone too: it leaves with its original
        source.entry.update(same_as=None, doc_ids=[d.doc_id for d in documents])
        source.documents, source.reuse = documents, False
        promoted[original] = source.entry["path"]
        indexed.add(source.entry["path"])
    sources[:] = [s for s in sources if not s.entry.get("same_as") or s.entry["same_as"] in indexed]


def _count(report: IngestReport, chunks, documents: int) -> None:
    report.documents, report.chunks = documents, len(chunks)
    report.tokens = sum(c.n_tokens for c in chunks)


def _write(
    index_dir: Path,
    sources: list[_Source],
    old: store.Index | None,
    report: IngestReport,
    embedder: Embedder,
    chunker: ChunkerSettings | None,
    retrieval: RetrievalSettings | None,
    lexical: LexicalSettings | None,
    progress: Callable[[int], Progress] | None,
    hook: Callable[[str], None] | None,
    ray: bool = False,
    ray_address: str | None = None,
) -> None:
    """Chunks and embeds what is new, reuses the rest, and swaps the new version in."""
    chunker = chunker or ChunkerSettings(window=embedder.window)
    retrieval = retrieval or (
        RetrievalSettings.from_dict(old.settings) if old is not None else RetrievalSettings()
    )
    lexical = lexical or LexicalSettings()
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
            if source.reuse and doc.doc_id in old_rows:
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
        chunker,
        retrieval,
        lexical,
        sources=[s.entry for s in sources],
        hook=hook,
        lock=False,
    )
    report.written = True
    report.embedded, report.reused = len(todo), len(reused)
    _count(report, chunks, len(documents))


def save_index(
    index_dir: Path,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentences: SentenceVectors,
    embedder: Embedder,
    chunker: ChunkerSettings,
    retrieval: RetrievalSettings,
    lexical: LexicalSettings,
    **store_options,
) -> None:
    """Writes an index of these chunks and their vectors: builds BM25 and the background
    questions' vectors, records the settings, and swaps it in (`store.save`)."""
    store.save(
        index_dir,
        documents=documents,
        chunks=chunks,
        vectors=vectors,
        lexical=LexicalIndex.build(
            [lexical_text(c.title, c.text, lexical) for c in chunks], lexical
        ),
        background=_background(embedder, vectors, retrieval),
        model=model_settings(embedder),
        chunker=chunker.to_dict(),
        retrieval=retrieval.to_dict(),
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


def ensure_default_index(
    index_dir: Path | None = None, log: Callable[[str], None] | None = None
) -> bool:
    """Builds the default index from the bundled article when it is missing, when the article
    or this version's retrieval settings changed, or when this version cannot load it. An index
    holding any other document, and a path holding anything but an index, are never touched.
    True when it (re)built."""
    index_dir = _index_path(index_dir)
    manifest = store.index_manifest(index_dir)
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
                load_index(index_dir, get_embedder(), verify=True)  # small: read every byte
                return False
            except (IndexIncompatibleError, IndexCorruptError):
                pass
    store.check_index_path(index_dir)
    (log or _stderr)(f"Indexing the bundled article into {index_dir} ...")
    ingest([DEFAULT_CORPUS], index_dir, rebuild=True)
    return True


def load_index(index_dir: Path, embedder: Embedder, verify: bool = False) -> store.Index:
    """Loads an index, refusing one built with other settings than this version uses.
    `verify`: also check every file's sha256, not only its size."""
    return store.load(
        index_dir,
        model=model_settings(embedder),
        chunker=ChunkerSettings(window=embedder.window).to_dict(),
        lexical=LexicalSettings().to_dict(),
        verify=verify,
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class Assistant:
    """Answers questions from one index with cited, highlighted passages."""

    def __init__(self, index: store.Index, embedder: Embedder) -> None:
        self.embedder = embedder
        self._reloading = threading.Lock()
        self._version = store.version_of(index.path)
        self._state = self._state_for(index)

    @staticmethod
    def _state_for(index: store.Index) -> tuple[store.Index, Retriever, ChunkerSettings]:
        return index, Retriever(index), ChunkerSettings(**index.manifest["chunker"])

    @property
    def index(self) -> store.Index:
        return self._state[0]

    @property
    def retriever(self) -> Retriever:
        return self._state[1]

    @property
    def chunker(self) -> ChunkerSettings:
        return self._state[2]

    def refresh(self) -> bool:
        """Loads the index again when a new version was swapped in since it was loaded (one
        stat per call). Questions already being answered finish on the version they started
        with; if the new version cannot be loaded, the loaded one keeps answering. True when
        it reloaded."""
        path = self.index.path
        version = store.version_of(path)
        if version is None or version == self._version:
            return False
        if not self._reloading.acquire(blocking=False):
            return False  # another thread is loading it; answer from the current version
        try:
            if store.version_of(path) == self._version:
                return False
            try:
                index = load_index(path, self.embedder)
            except AssistantError:
                return False
            self._state = self._state_for(index)
            self._version = version
            return True
        finally:
            self._reloading.release()

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
        self.refresh()
        index, searcher, chunker = self._state  # one version for the whole answer
        mode = check_mode(retriever or searcher.settings.mode)
        cut = _check_cut(searcher, answerable_at)
        only = _check_documents(index, documents)
        searched = search_text(question, context)
        query = self._embed_question(searched)
        if searched != question:  # a follow-up: its own words weigh as much as the context
            query = query + self._embed_question(question)
            query /= np.linalg.norm(query)
        ranking = searcher.search(searched, query, k, mode, documents=only)
        confidence = searcher.confidence(ranking, query)
        if confidence < cut and searched == question:
            # partly about the documents? then answer the part that is
            for part in question_parts(question):
                part_query = self._embed_question(part)
                part_ranking = searcher.search(part, part_query, k, mode, documents=only)
                part_confidence = searcher.confidence(part_ranking, part_query)
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
            weak_below=max(cut, searcher.settings.weak_below),
            k=k,
            documents=tuple(sorted(only or ())),
        )
        if not answer.answerable:
            return answer
        hits = ranking.hits
        spans = [searcher.sentences(h.chunk) for h in hits]
        similarities = self._sentence_similarities(index, chunker, hits, spans, query)
        words = content_words(searched)
        passages = []
        for rank, (hit, ss) in enumerate(zip(hits, spans, strict=True), 1):
            sims = similarities[rank - 1]
            passages.append(
                Passage(
                    rank=rank,
                    score=hit.score,
                    dense=hit.dense,
                    lexical=hit.lexical,
                    text=hit.chunk.text,
                    source=source_for(hit.chunk, _metadata(index, hit.chunk.doc_id)),
                    highlight=best_sentence(
                        hit.chunk.text,
                        ss,
                        sims,
                        words,
                        HIGHLIGHT_OVERLAP_WEIGHT,
                        searcher.sentence_words(hit.chunk),
                    ),
                )
            )
        return replace(answer, passages=tuple(passages))

    def _sentence_similarities(
        self, index: store.Index, chunker: ChunkerSettings, hits, spans, query: np.ndarray
    ) -> list[np.ndarray]:
        """Cosine of the question with each sentence of each hit: from the index's sentence
        vectors (read in the passage's context at ingest), else by encoding the sentences now
        (each as `title: sentence`, so it is read in its document's context too)."""
        stored = index.sentences  # row i holds chunk i (chunk ids are rows)
        vectors = [
            stored.of_chunk(h.chunk.chunk_id, len(ss)) if stored else None
            for h, ss in zip(hits, spans, strict=True)
        ]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            texts = [
                embedding_text(hits[i].chunk.title, hits[i].chunk.text[s:e], chunker)
                for i in missing
                for s, e in spans[i]
            ]
            encoded, start = self.embedder.encode(texts), 0
            for i in missing:
                vectors[i] = encoded[start : start + len(spans[i])]
                start += len(spans[i])
        return [v @ query for v in vectors]

    def _embed_question(self, question: str) -> np.ndarray:
        """The model reads the first 256 tokens of a longer question; BM25 reads all of it."""
        return self.embedder.encode([question])[0]


def _metadata(index: store.Index, doc_id: str) -> tuple[tuple[str, str], ...]:
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


def _check_documents(index: store.Index, documents: Iterable[str] | None) -> frozenset[str] | None:
    if documents is None:
        return None
    only = frozenset([documents] if isinstance(documents, str) else documents)
    unknown = sorted(only - set(index.documents))
    if unknown:
        raise InvalidArgumentError(
            f"No document {unknown[0]!r} in this index; `assistant info` lists the doc_ids."
        )
    return only or None
