"""Reading files into Documents: decoding, title, paragraph spans. One small reader per format.

A `.jsonl` file is a collection: one document per line, {"_id", "title", "text"} as in BEIR
corpora. Its document ids are "<file id>#<record id>" and its title is the text's first paragraph.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from .errors import DocumentError, NoDocumentsError
from .schema import Document
from .sentences import strip_span

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl")
SUPPORTED = ".txt, .md or .jsonl"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_COLLECTION_BYTES = 512 * 1024 * 1024  # a .jsonl file holds many documents
MAX_TITLE_CHARS = 150

NOT_TEXT = f"this looks like a binary file, not text; only {SUPPORTED} files are read"
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+")


def decode(raw: bytes, path: str) -> str:
    """Bytes to text with newlines normalised to '\\n'; refuses what is not text."""
    if not raw.strip():
        raise DocumentError(path, "the file is empty; add some text or leave it out")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    elif b"\x00" in raw[:8192]:
        raise DocumentError(path, NOT_TEXT)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                path,
                f"the text is not UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start}); "
                f"convert it first, e.g. iconv -f latin1 -t utf-8 '{path}' > converted.txt",
            ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\t\f\v")
    if controls > 0.01 * min(len(text), 8192) + 2:
        raise DocumentError(path, NOT_TEXT)
    if not text.strip():
        raise DocumentError(path, "the file has no text; add some text or leave it out")
    return text


def looks_like_title(line: str) -> bool:
    """A short first line that does not end like a sentence: a headline, not prose."""
    line = line.strip()
    return 0 < len(line) <= MAX_TITLE_CHARS and not line.endswith((".", ",", ";", ":"))


def paragraph_spans(text: str, markdown: bool) -> list[tuple[int, int]]:
    """Runs of non-blank lines; a title line and Markdown headings stand alone."""
    spans: list[tuple[int, int]] = []
    can_grow = False
    for line in re.finditer(r"[^\n]+", text):
        if not line.group().strip():
            can_grow = False
            continue
        heading = markdown and bool(_MD_HEADING.match(line.group()))
        title = not spans and looks_like_title(line.group())
        if can_grow and not heading and line.start() == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], line.end())
        else:
            spans.append((line.start(), line.end()))
        can_grow = not (heading or title)
    return [strip_span(text, s, e) for s, e in spans]


def title_of(text: str, paragraphs: list[tuple[int, int]], markdown: bool) -> str:
    """The first paragraph when it is a heading or a title line; "" when the text has none."""
    first = text[paragraphs[0][0] : paragraphs[0][1]] if paragraphs else ""
    if markdown and _MD_HEADING.match(first):
        return _MD_HEADING.sub("", first).strip()[:MAX_TITLE_CHARS]
    return first.strip() if "\n" not in first and looks_like_title(first) else ""


def read_documents(path: Path, doc_id: str) -> list[Document]:
    """The documents in one file: one for .txt and .md, one per record for .jsonl."""
    if path.suffix.lower() == ".jsonl":
        return read_collection(path, doc_id)
    return [read_document(path, doc_id)]


def _read_bytes(path: Path, limit: int) -> bytes:
    shown = display_path(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise DocumentError(
                shown,
                f"the file is {size / 2**20:.1f} MiB; the limit is {limit // 2**20} MiB. "
                "Split it into smaller files",
            )
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(shown, f"cannot read the file ({exc.strerror})") from None


def read_document(path: Path, doc_id: str) -> Document:
    shown = display_path(path)
    raw = _read_bytes(path, MAX_FILE_BYTES)
    text = decode(raw, shown)
    markdown = path.suffix.lower() == ".md"
    paragraphs = paragraph_spans(text, markdown)
    return Document(
        doc_id=doc_id,
        title=title_of(text, paragraphs, markdown),
        path=shown,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        paragraphs=tuple(paragraphs),
    )


def read_collection(path: Path, file_id: str) -> list[Document]:
    """One document per JSON line with a "text" (and optional "title" and "_id" or "id")."""
    shown = display_path(path)
    lines = decode(_read_bytes(path, MAX_COLLECTION_BYTES), shown).split("\n")
    documents, seen = [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("text", ""), str):
            raise DocumentError(
                shown,
                f'line {number} is not a JSON object with a "text" string; a .jsonl file '
                'holds one {"_id": ..., "title": ..., "text": ...} object per line',
            )
        title = str(record.get("title") or "").strip()
        body = str(record.get("text") or "").strip()
        if not (title or body):
            continue
        record_id = str(record.get("_id", record.get("id", number)))
        if record_id in seen:
            raise DocumentError(shown, f"line {number} repeats the id {record_id!r}")
        seen.add(record_id)
        text = f"{title}\n\n{body}" if title and body else title or body
        paragraphs = paragraph_spans(text, markdown=False)
        documents.append(
            Document(
                doc_id=f"{file_id}#{record_id}",
                title=title[:300],
                path=shown,
                text=text,
                sha256=hashlib.sha256(line.encode("utf-8")).hexdigest(),
                paragraphs=tuple(paragraphs),
            )
        )
    if not documents:
        raise DocumentError(shown, "the file has no records with text")
    return documents


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it, else absolute."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def find_files(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, doc_id) pairs for every supported file under `paths`, plus notes on skipped ones."""
    found: list[tuple[Path, str]] = []
    notes: list[str] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    file = Path(dirpath, name)
                    if name.startswith("."):
                        continue
                    if file.suffix.lower() in SUPPORTED_SUFFIXES:
                        found.append((file, _doc_id(file.relative_to(root).with_suffix(""))))
                    else:
                        notes.append(f"skipped {display_path(file)}: not a {SUPPORTED} file")
        elif root.is_file():
            if root.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise DocumentError(str(given), f"unsupported file type; give {SUPPORTED} files")
            found.append((root, _doc_id(Path(root.stem))))
        else:
            raise DocumentError(str(given), "no such file or folder")
    if not found:
        raise NoDocumentsError(
            f"No {SUPPORTED} files found in: " + ", ".join(str(p) for p in paths)
        )
    return _unique_ids(found), notes


def _doc_id(relative: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", "/".join(relative.parts).lower()).strip("-")
    return slug or "document"


def _unique_ids(found: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    seen: dict[str, int] = {}
    unique = []
    for path, doc_id in found:
        seen[doc_id] = seen.get(doc_id, 0) + 1
        unique.append((path, doc_id if seen[doc_id] == 1 else f"{doc_id}-{seen[doc_id]}"))
    return unique
