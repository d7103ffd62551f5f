"""Bringing an index up to date with files: what to add, re-read, keep and remove (ingest,
remove), and what is indexed (list_documents). The chunks and vectors are made by `build`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..embedding import Embedder, Progress, embedder_for_index, get_embedder
from ..errors import DocumentError, IndexMissingError, InvalidArgumentError, NoDocumentsError
from ..schema import display_title
from ..settings import (
    ChunkerSettings,
    IndexSettings,
    LexicalSettings,
    ModelSettings,
    RetrievalSettings,
    index_dir_or_default,
)
from ..store.folder import Index, load_index, read_manifest
from ..store.guard import check_index_path, prepare, resolve_index_dir
from ..store.swap import remove_leftovers, writer_lock
from .build import Source, write_version
from .files import display_path, read_documents, read_file_bytes, walk
from .progress import Step, Tracker


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
    on_step: Callable[[Step], None] | None = None,
) -> IngestReport:
    """Adds and updates the files under `paths` in the index and removes the indexed files under
    `paths` that no longer exist; everything else indexed stays. Only files whose content hash
    changed are read again, and only chunks whose text is new are embedded. A file that fails
    is reported in `failures` (an earlier indexed version of it is kept) and the rest goes on;
    with `skip_bad=False` any failure writes nothing. Files with identical bytes are indexed
    once. `rebuild` starts from an empty index. The new version is swapped in atomically.
    `progress(total)` may return a callback told how many chunks each step embedded.
    `ray`: embed on a Ray cluster (`ray_address`, $RAY_ADDRESS, or a local instance).
    `on_step(Step)` is told how far each stage (reading, embedding, writing) has got."""
    started = time.monotonic()
    paths = list(paths)
    index_dir = resolve_index_dir(index_dir)
    report = IngestReport(index_dir)
    prepare(index_dir)  # refuses a path whose contents are not ours to replace
    embedder = embedder or (get_embedder() if rebuild else embedder_for_index(index_dir))
    with writer_lock(index_dir):
        remove_leftovers(index_dir)  # of writers killed earlier
        old = None if rebuild else _existing_index(index_dir, embedder)
        tracker = Tracker(on_step)
        sources = _plan(paths, old, report, tracker)
        if report.failures and not skip_bad:
            report.seconds = time.monotonic() - started
            return report
        settings = _settings(old, embedder, chunker=chunker, retrieval=retrieval, lexical=lexical)
        if old is not None and not report.changed and settings == old.settings:
            _count(report, old.manifest)
        else:
            if not any(s.doc_ids for s in sources):
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
                report, sources, old, embedder, settings,
                progress=progress, hook=hook, ray=ray, ray_address=ray_address,
                tracker=tracker,
            )  # fmt: skip
    report.seconds = time.monotonic() - started
    return report


def remove(
    paths: Iterable[str | Path],
    index_dir: str | Path | None = None,
    *,
    embedder: Embedder | None = None,
    hook: Callable[[str], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> IngestReport:
    """Removes from the index the files at or under `paths` (or with these document ids or
    shown paths), whether or not they still exist on disk. Nothing is embedded."""
    started = time.monotonic()
    index_dir = resolve_index_dir(index_dir)
    report = IngestReport(index_dir)
    read_manifest(index_dir)  # a clear error when there is no index
    check_index_path(index_dir)
    embedder = embedder or embedder_for_index(index_dir)
    with writer_lock(index_dir):
        old = load_index(index_dir, embedder)
        targets = [str(p) for p in paths]
        roots = [os.path.abspath(t) for t in targets]
        sources = []
        for entry in _entries(old):
            ids = set(entry["doc_ids"]) | {entry["shown"], entry["path"]}
            if _under(entry["path"], roots) or ids & set(targets):
                report.removed.append(entry["shown"])
            else:
                sources.append(Source(entry))
        if not report.removed:
            raise InvalidArgumentError(
                "Nothing indexed matches " + ", ".join(targets) + "; `assistant list` shows "
                "what is indexed."
            )
        _promote_duplicates(sources)
        if not any(s.doc_ids for s in sources):
            raise NoDocumentsError(
                "This would leave the index empty; nothing was changed. To start over, delete "
                f"{index_dir} or ingest other files with --rebuild."
            )
        _write(report, sources, old, embedder, old.settings, hook=hook, tracker=Tracker(on_step))
    report.seconds = time.monotonic() - started
    return report


def list_documents(index_dir: str | Path | None = None) -> list[IndexedDocument]:
    """The indexed source files, in index order (reads only the manifest)."""
    index_dir = index_dir_or_default(index_dir)
    manifest = read_manifest(index_dir)
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


def _existing_index(index_dir: Path, embedder: Embedder) -> Index | None:
    try:
        return load_index(index_dir, embedder)
    except IndexMissingError:
        return None


def _entries(old: Index | None) -> list[dict]:
    """The old version's source files (copies: the plan edits them)."""
    return [dict(e) for e in old.manifest["sources"]] if old is not None else []


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _plan(paths: list, old: Index | None, report: IngestReport, tracker: Tracker) -> list[Source]:
    """The sources of the new version: the old ones outside `paths`, and what `paths` hold."""
    found = walk(paths)
    report.notes.extend(found.notes)
    report.failures.extend(found.failures)
    roots = [os.path.abspath(p) for p in paths]
    old_entries = _entries(old)
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
    kept_paths = {e["path"] for e in kept}
    hash_now = {entry["path"]: entry["sha256"] for _, _, entry in walked}
    for e in old_entries:
        if e["path"] not in kept_paths and e["path"] not in hash_now:
            report.removed.append(e["shown"])

    # identical bytes are indexed once: an earlier indexed copy stays the one indexed
    primary: dict[str, str] = {}
    unchanged_primaries = {
        e["path"] for e in old_entries
        if not e.get("same_as")
        and (e["path"] in kept_paths or hash_now.get(e["path"]) == e["sha256"])
    }  # fmt: skip
    for e in old_entries:
        if e["path"] in unchanged_primaries:
            primary.setdefault(e["sha256"], e["path"])
    sources = [Source(e) for e in kept]
    shown_of = {e["path"]: e["shown"] for e in old_entries} | {w["path"]: s for _, s, w in walked}
    for file, shown, entry in _counted(walked, tracker.stage("reading", len(walked))):
        previous = by_path.get(entry["path"])
        first = primary.setdefault(entry["sha256"], entry["path"])
        if first != entry["path"]:
            entry["same_as"] = first
            entry["indexed_at"] = previous["indexed_at"] if previous else _now()
            sources.append(Source(entry))
            report.duplicates.append(f"{shown} (same content as {shown_of[first]})")
            if previous and not previous.get("same_as"):
                report.updated.append(shown)  # its documents go: the other copy holds them
            continue
        if previous and previous["sha256"] == entry["sha256"] and not previous.get("same_as"):
            sources.append(Source(previous))
            report.unchanged.append(shown)
            continue
        try:
            raw = read_file_bytes(file)  # read again: it may have changed since it was hashed
            entry["sha256"], entry["bytes"] = hashlib.sha256(raw).hexdigest(), len(raw)
            documents = read_documents(file, entry["id"], raw)
        except DocumentError as exc:
            _fail(report, exc, previous, failed, entry["path"])
            if previous:
                sources.append(Source(previous))
            continue
        except Exception as exc:  # a reader bug must not stop the batch
            error = DocumentError(shown, f"could not be read ({type(exc).__name__}: {exc})")
            _fail(report, error, previous, failed, entry["path"])
            if previous:
                sources.append(Source(previous))
            continue
        entry["doc_ids"] = [d.doc_id for d in documents]
        entry["title"] = display_title(documents[0].title, shown, documents[0].doc_id)
        entry["indexed_at"] = _now()
        sources.append(Source(entry, documents, reuse=False))
        (report.updated if previous else report.added).append(shown)
    _promote_duplicates(sources)
    return sources


def _fail(report, error: DocumentError, previous, failed: set[str], path: str) -> None:
    report.failures.append(error)
    if previous:
        failed.add(path)
        report.kept.append(previous["shown"])


def _promote_duplicates(sources: list[Source]) -> None:
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


def _settings(old: Index | None, embedder: Embedder, **given) -> IndexSettings:
    """Each part as given, else as the index was built, else the default for the model."""
    base = old.settings if old is not None else IndexSettings.for_model(ModelSettings.of(embedder))
    return replace(base, **{part: value for part, value in given.items() if value is not None})


def _counted(items: list, advance: Callable[[int], None]):
    """The items; `advance(1)` as each one is done with."""
    for item in items:
        yield item
        advance(1)


def _write(report: IngestReport, sources, old, embedder, settings, **options) -> None:
    written = write_version(report.index_dir, sources, old, embedder, settings, **options)
    report.written = True
    report.embedded, report.reused = written.embedded, written.reused
    report.documents, report.chunks, report.tokens = (
        written.documents, written.chunks, written.tokens,
    )  # fmt: skip


def _count(report: IngestReport, manifest: dict) -> None:
    documents = manifest.get("documents", [])
    report.documents, report.chunks = len(documents), manifest["counts"]["chunks"]
    report.tokens = sum(d.get("tokens", 0) for d in documents)
