"""Reading files into Documents: decoding, title, paragraph spans. One small reader per format.

A `.jsonl` file is a collection: one document per line, {"_id", "title", "text"} as in BEIR
corpora. Its document ids are "<file id>#<record id>" and its title is the record's "title".
`.html`, `.pdf` and `.docx` are extracted to plain text (`html.py`, `pdf.py`, `formats.py`: main
text only, pages, headings as sections, code blocks, author/date/outlet metadata); citations are
spans into that text. Markdown is read in place (`markdown.py`: fenced code blocks).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DocumentError, NoDocumentsError
from ..feedback import FEEDBACK_SUFFIX
from ..schema import Document
from ..sentences import strip_span
from ..store.guard import index_manifest
from .markdown import HEADING as MD_HEADING
from .markdown import fenced_blocks
from .markdown import sections as markdown_sections

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl")
SUPPORTED = ".txt, .md, .html, .pdf, .docx or .jsonl"
MAX_FILE_BYTES = 20 * 1024 * 1024  # text and HTML
MAX_BINARY_BYTES = 100 * 1024 * 1024  # PDF and DOCX: mostly fonts, images and compression
MAX_COLLECTION_BYTES = 512 * 1024 * 1024  # a .jsonl file holds many documents
MAX_TITLE_CHARS = 150
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/run")  # the running system's own files
REMOVABLE_MEDIA = "/run/media"  # where desktops mount USB drives: documents may be there

NOT_TEXT = f"this looks like a binary file, not text; only {SUPPORTED} files are read"
_LINE = re.compile(r"[^\n]+")


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


def paragraph_spans(
    text: str, markdown: bool, blocks: Iterable[tuple[int, int, int, int]] = ()
) -> list[tuple[int, int]]:
    """Runs of non-blank lines; a title line and Markdown headings stand alone. `blocks`:
    (start, end, code start, code end) of code blocks, each one paragraph however many blank
    lines it holds; the rest of a block (Markdown's fence lines) is in no paragraph."""
    spans: list[tuple[int, int]] = []
    can_grow = False
    cursor = 0
    for block_start, block_end, code_start, code_end in [*sorted(blocks), (len(text),) * 4]:
        for line in _LINE.finditer(text, cursor, max(cursor, block_start)):
            if not line.group().strip():
                can_grow = False
                continue
            heading = markdown and bool(MD_HEADING.match(line.group()))
            title = not spans and looks_like_title(line.group())
            if can_grow and not heading and line.start() == spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], line.end())
            else:
                spans.append((line.start(), line.end()))
            can_grow = not (heading or title)
        if code_end > code_start:
            spans.append((code_start, code_end))
            can_grow = False
        cursor = max(cursor, block_end)
    spans = [strip_span(text, s, e) for s, e in spans]
    return [(s, e) for s, e in spans if e > s]


def title_of(text: str, paragraphs: list[tuple[int, int]], markdown: bool) -> str:
    """The first paragraph when it is a heading or a title line; "" when the text has none."""
    first = text[paragraphs[0][0] : paragraphs[0][1]] if paragraphs else ""
    if markdown and MD_HEADING.match(first):
        return MD_HEADING.sub("", first).strip()[:MAX_TITLE_CHARS]
    return first.strip() if "\n" not in first and looks_like_title(first) else ""


def size_limit(path: Path) -> int:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return MAX_COLLECTION_BYTES
    return MAX_BINARY_BYTES if suffix in (".pdf", ".docx") else MAX_FILE_BYTES


def read_file_bytes(path: Path) -> bytes:
    """The file's bytes, refusing one over its format's size limit or that cannot be read, and
    anything but a regular file (a FIFO would block, a device never end)."""
    shown = display_path(path)
    limit = size_limit(path)
    try:
        _check_regular(os.stat(path).st_mode, shown)  # before opening: opening may block
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as handle:
            info = os.fstat(fd)
            _check_regular(info.st_mode, shown)  # the path may have been swapped meanwhile
            if info.st_size > limit:
                raise DocumentError(
                    shown,
                    f"the file is {info.st_size / 2**20:.1f} MiB; the limit for this type is "
                    f"{limit // 2**20} MiB. Split it into smaller files",
                )
            raw = handle.read(limit + 1)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise DocumentError(shown, "the link points to itself (a symlink loop)") from None
        if isinstance(exc, FileNotFoundError):
            raise DocumentError(shown, "the file disappeared before it could be read") from None
        raise DocumentError(shown, f"cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise DocumentError(shown, f"the file grew past the {limit // 2**20} MiB limit")
    return raw


def _check_regular(mode: int, shown: str) -> None:
    if not stat.S_ISREG(mode):
        raise DocumentError(shown, not_regular(mode))


def not_regular(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO, a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    return f"not a regular file ({kind}); only regular files are read"


def system_tree(path: str | Path) -> str | None:
    """The system tree (/proc, /sys, /dev, /run) `path` is in once links are followed."""
    real = os.path.realpath(path)
    if _within(real, REMOVABLE_MEDIA):
        return None
    return next((tree for tree in SYSTEM_TREES if _within(real, tree)), None)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def read_documents(path: Path, doc_id: str, raw: bytes | None = None) -> list[Document]:
    """The documents in one file: one per file, or one per record for .jsonl. `raw`, when
    given, is the file's content already read (so what is hashed is what is parsed)."""
    if raw is None:
        raw = read_file_bytes(path)
    if path.suffix.lower() == ".jsonl":
        return read_collection(path, doc_id, raw)
    return [read_document(path, doc_id, raw)]


def read_document(path: Path, doc_id: str, raw: bytes | None = None) -> Document:
    shown = display_path(path)
    if raw is None:
        raw = read_file_bytes(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm", ".pdf", ".docx"):
        return _extracted_document(path, doc_id, raw, shown, suffix)
    text = decode(raw, shown)
    markdown = suffix in (".md", ".markdown")
    blocks = fenced_blocks(text) if markdown else []
    paragraphs = paragraph_spans(text, markdown, blocks)
    code = {strip_span(text, c, d) for _, _, c, d in blocks}
    prose = [(s, e) for s, e in paragraphs if (s, e) not in code]
    return Document(
        doc_id=doc_id,
        title=title_of(text, prose[:1] if prose[:1] == paragraphs[:1] else [], markdown),
        path=shown,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        paragraphs=tuple(paragraphs),
        sections=markdown_sections(text, prose) if markdown else (),
        code=tuple(span for span in paragraphs if span in code),
    )


def _extracted_document(path: Path, doc_id: str, raw: bytes, shown: str, suffix: str) -> Document:
    from . import formats as formats
    from .html import decode_html

    if not raw.strip():
        raise DocumentError(shown, "the file is empty; add some text or leave it out")
    if suffix == ".pdf":
        extracted = formats.read_pdf(raw, shown)
    elif suffix == ".docx":
        extracted = formats.read_docx(raw, shown)
    else:
        if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DocumentError(shown, NOT_TEXT)
        extracted = formats.read_html(raw, decode_html(raw), shown)
    text = extracted.text
    if not text.strip():
        raise DocumentError(shown, "no readable text was found in the file")
    if len(text) > formats.MAX_TEXT_CHARS:
        raise DocumentError(
            shown,
            f"the file holds {len(text):,} characters of text; the limit is "
            f"{formats.MAX_TEXT_CHARS:,}. Split it into smaller files",
        )
    paragraphs = paragraph_spans(text, False, [(s, e, s, e) for s, e in extracted.code])
    return Document(
        doc_id=doc_id,
        title=(extracted.title or title_of(text, paragraphs, False))[:MAX_TITLE_CHARS],
        path=shown,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        paragraphs=tuple(paragraphs),
        pages=tuple(extracted.pages),
        sections=tuple(extracted.sections),
        metadata=tuple(extracted.metadata.items()),
        code=tuple(extracted.code),
    )


def read_collection(path: Path, file_id: str, raw: bytes | None = None) -> list[Document]:
    """One document per JSON line with a "text" (and optional "title" and "_id" or "id")."""
    shown = display_path(path)
    if raw is None:
        raw = read_file_bytes(path)
    lines = decode(raw, shown).split("\n")
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
    absolute = Path(os.path.abspath(path))  # links are not followed: a loop is no error here
    try:
        return str(absolute.relative_to(os.getcwd()))
    except ValueError:
        return str(absolute)


@dataclass
class Walk:
    """What a walk over the given paths found."""

    files: list[tuple[Path, str]] = field(default_factory=list)  # (file, doc id from its path)
    notes: list[str] = field(default_factory=list)  # skipped files, with why
    failures: list[DocumentError] = field(default_factory=list)  # given paths that failed
    missing: list[Path] = field(default_factory=list)  # given paths that do not exist


def walk(paths: Iterable[str | Path]) -> Walk:
    """Every supported file under `paths`, recursively. Hidden files, unsupported types, symlink
    loops, index folders and links into system trees are skipped with a note; linked folders are
    followed once. A given path that is not a regular file or folder, or is in a system tree or
    an index folder, fails."""
    result = Walk()
    for given in paths:
        root = Path(given)
        try:
            mode = root.stat().st_mode
        except OSError as exc:
            if root.is_symlink():
                reason = "a broken link or a symlink loop; nothing to read"
            elif isinstance(exc, (FileNotFoundError, NotADirectoryError)):
                result.missing.append(root)
                continue
            else:
                reason = f"cannot be read ({exc.strerror or exc})"
            result.failures.append(DocumentError(str(given), reason))
            continue
        refused = _refused(root, mode)
        if refused:
            result.failures.append(DocumentError(str(given), refused))
        elif stat.S_ISDIR(mode):
            _walk_folder(root, result)
        else:
            result.files.append((root, _doc_id(Path(root.name))))
    result.files = _unique_ids(result.files)
    return result


def _refused(root: Path, mode: int) -> str | None:
    """Why a given path is not read, or None."""
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        return not_regular(mode)
    tree = system_tree(root)
    if tree:
        return f"this is in {tree}, the running system's own files; give your documents' folder"
    if stat.S_ISDIR(mode) and index_manifest(root) is not None:
        return "this is an index folder, not documents; give the documents it was built from"
    if stat.S_ISREG(mode) and root.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported file type; give {SUPPORTED} files"
    return None


def _walk_folder(root: Path, result: Walk) -> None:
    top = os.path.realpath(root)
    seen = {top}

    def unreadable(error: OSError) -> None:
        shown = display_path(Path(error.filename))
        result.notes.append(f"skipped {shown}: cannot read this folder ({error.strerror})")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            skipped = _skipped_folder(Path(dirpath, d), top, seen)
            if skipped:
                result.notes.append(f"skipped {display_path(Path(dirpath, d))}: {skipped}")
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            file = Path(dirpath, name)
            if name.startswith("."):
                continue
            skipped = _skipped_file(file)
            if skipped:
                result.notes.append(f"skipped {display_path(file)}: {skipped}")
            else:
                result.files.append((file, _doc_id(file.relative_to(root))))


def _skipped_folder(folder: Path, top: str, seen: set[str]) -> str | None:
    real = os.path.realpath(folder)
    tree = system_tree(real)
    if tree:
        return f"it leads into {tree}, the running system's own files"
    if real in seen:
        return "a link to a folder already walked (a symlink loop?)"
    if _within(top, real):
        return "a link to a folder that holds this one (a symlink loop)"
    if index_manifest(folder) is not None:
        return "an index folder (its files are not documents)"
    seen.add(real)
    return None


def _skipped_file(file: Path) -> str | None:
    if file.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"not a {SUPPORTED} file"
    tree = system_tree(file) if file.is_symlink() else None
    if tree:
        return f"a link into {tree}, the running system's own files"
    index = file.with_name(file.name.removesuffix(FEEDBACK_SUFFIX))
    if file.name.endswith(FEEDBACK_SUFFIX) and index_manifest(index) is not None:
        return "the chat's votes on the index beside it, not a document"
    return None


def find_files(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, doc_id) pairs for every supported file under `paths`, plus notes on skipped ones;
    raises for a missing or unsupported given path, or when nothing is found."""
    paths = list(paths)
    found = walk(paths)
    if found.failures:
        raise found.failures[0]
    if found.missing:
        raise DocumentError(str(found.missing[0]), "no such file or folder")
    if not found.files:
        raise NoDocumentsError(
            f"No {SUPPORTED} files found in: " + ", ".join(str(p) for p in paths)
        )
    return found.files, found.notes


def _doc_id(relative: Path) -> str:
    relative = relative.with_suffix("")
    slug = re.sub(r"[^a-z0-9]+", "-", "/".join(relative.parts).lower()).strip("-")
    return slug or "document"


def _unique_ids(found: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    seen: dict[str, int] = {}
    unique = []
    for path, doc_id in found:
        seen[doc_id] = seen.get(doc_id, 0) + 1
        unique.append((path, doc_id if seen[doc_id] == 1 else f"{doc_id}-{seen[doc_id]}"))
    return unique
