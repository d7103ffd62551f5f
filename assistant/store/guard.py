"""Which paths an index may be written to: only a new path, an empty folder, or a folder that is
an index of this assistant holding nothing its manifest does not list. Nothing else is ever
replaced, so a careless --index cannot delete a user's files."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import IndexPathError
from ..settings import index_dir_or_default

FORMAT = "citation-assistant-index"


def resolve_index_dir(index_dir: str | Path | None) -> Path:
    """The index folder as an absolute path (the default one when not given); a link to it is
    followed, so the folder, not the link, is what a write replaces."""
    path = index_dir_or_default(index_dir)
    return Path(os.path.realpath(path) if path.is_symlink() else os.path.abspath(path))


_PARSED: dict[tuple, object] = {}  # manifests (and segment entries) parsed, by file identity


def parse_manifest(path: Path, ours_only: bool = False):
    """The JSON of a manifest file, parsed once per process and version (a big index's
    manifest takes a while to parse, and a write reads it several times); OSError or
    ValueError when it cannot be read. `ours_only`: None unless it names this program's format
    first (cheap to refuse another program's file). Never change what it returns."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if ours_only:
                return None
            raise ValueError("it is not a regular file")
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key in _PARSED:
            return _PARSED[key]
        if ours_only and FORMAT.encode() not in handle.read(4096):  # ours names it first
            return None
        handle.seek(0)
        parsed = json.loads(handle.read())
    _keep(key, parsed)
    return parsed


def remember_manifest(path: Path, manifest: dict) -> None:
    """A manifest this process has just written: `parse_manifest` returns it (a rename keeps
    the file's identity)."""
    st = os.stat(path)
    _keep((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), manifest)


def _keep(key: tuple, parsed) -> None:
    while len(_PARSED) >= 256:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[key] = parsed


ENTRIES = "entries.json"  # in each segment: the manifest's entries of its documents


def with_documents(folder: Path, manifest: dict) -> dict:
    """The manifest with its "documents": each segment's entries, in row order (a manifest of
    another layout as it is). OSError, ValueError, TypeError or KeyError when one is
    unreadable."""
    if "documents" in manifest or not isinstance(manifest.get("segments"), list):
        return manifest
    documents: list = []
    for listed in manifest["segments"]:
        entries = parse_manifest(Path(folder) / listed["name"] / ENTRIES)
        if not isinstance(entries, list):
            raise ValueError(f"{listed['name']}/{ENTRIES} is not a list")
        documents += entries
    return {**manifest, "documents": documents}


def index_manifest(folder: Path) -> dict | None:
    """The manifest of the index of this assistant in `folder`, documents included; None when
    it holds none. When a segment's entries cannot be read, "documents" holds one entry of an
    unknown document, so the index is never taken for the bundled article's alone."""
    try:
        manifest = parse_manifest(Path(folder) / "manifest.json", ours_only=True)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    try:
        return with_documents(Path(folder), manifest)
    except (OSError, ValueError, TypeError, KeyError):
        unknown = {"doc_id": "", "path": "(unreadable segment)", "sha256": ""}
        return {**manifest, "documents": [unknown]}


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
    with creating(index_dir):
        Path(index_dir).parent.mkdir(parents=True, exist_ok=True)


def occupied(path: Path) -> bool:
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
def creating(index_dir: Path) -> Iterator[None]:
    """Turns a failure to create the lock file or the new folder into a clear message."""
    try:
        yield
    except OSError as exc:
        raise IndexPathError(
            str(index_dir),
            f"cannot create files in {Path(index_dir).parent} ({exc.strerror or exc})",
            "Choose a folder you can write to (--index FOLDER), or make this one writable.",
        ) from None
