"""The default index: the bundled article, indexed on first use (by `ask`, `serve` and
`ingest --if-stale`) and rebuilt when the article or this version's default settings change."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .embedding import get_embedder
from .errors import IndexCorruptError, IndexIncompatibleError
from .indexing.files import find_files, read_document
from .indexing.sync import ingest
from .settings import IndexSettings, ModelSettings
from .store.folder import load_index
from .store.guard import check_index_path, index_manifest, resolve_index_dir

DEFAULT_CORPUS = Path(__file__).resolve().parent / "corpus"


def ensure_default_index(
    index_dir: Path | None = None, log: Callable[[str], None] | None = None
) -> bool:
    """Builds the default index from the bundled article when it is missing, when the article
    or this version's default settings changed, or when this version cannot load it. An index
    holding any other document, and a path holding anything but an index, are never touched.
    True when it (re)built."""
    index_dir = resolve_index_dir(index_dir)
    manifest = index_manifest(index_dir)
    if manifest is not None:
        bundled = {
            d.path: d.sha256
            for d in (read_document(p, i) for p, i in find_files([DEFAULT_CORPUS])[0])
        }
        indexed = {d.get("path"): d.get("sha256") for d in manifest.get("documents", [])}
        if not set(indexed) <= set(bundled):
            return False  # the user's own documents: leave them alone
        if indexed == bundled:
            try:
                index = load_index(index_dir, get_embedder(), verify=True)  # small: every byte
                if index.settings == IndexSettings.for_model(ModelSettings.of(get_embedder())):
                    return False
            except (IndexIncompatibleError, IndexCorruptError):
                pass
    check_index_path(index_dir)
    (log or _stderr)(f"Indexing the bundled article into {index_dir} ...")
    ingest([DEFAULT_CORPUS], index_dir, rebuild=True)
    return True


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
