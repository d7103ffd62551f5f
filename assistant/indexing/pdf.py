"""PDF to text (pypdf), page by page: running headers, footers and page numbers left out,
paragraphs found, hyphenated words joined, sections from the outline (bookmarks).

Every page's span is recorded so citations name the page; an outline entry's heading line, when
it is found on its page, starts the section there (else the section starts with the page), so
a citation reads "p. 11, § 4.1 ASN.1 schema functions". Reading is bounded (`formats.MAX_*`).
"""

from __future__ import annotations

import io
import logging
import re
import time

from ..errors import DocumentError
from . import formats as limits
from .formats import Builder, Extracted, clean, missing
from .pdf_layout import (
    BARE_NUMBER,
    compounds,
    find_headings,
    join_hyphenated,
    page_lines,
    paragraphs,
    strip_running_lines,
)

MAX_OUTLINE_ENTRIES = 20_000
MAX_TITLE_CHARS = 120
NO_TEXT = (
    "the PDF has no extractable text (a scan?); run OCR on it first "
    "(e.g. ocrmypdf in.pdf out.pdf) and add the result"
)


def read_pdf(raw: bytes, path: str) -> Extracted:
    """Text page by page, with sections from the outline and the title, author and date."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    except ImportError:
        raise missing("pypdf", path) from None
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # owner-password-only PDFs open without one
            except (NotImplementedError, DependencyError) as exc:
                raise DocumentError(
                    path, f"the PDF is encrypted in a way this reader cannot open ({exc})"
                ) from None
            if not opened:
                raise DocumentError(
                    path,
                    "the PDF is protected by a password; save an unprotected copy "
                    "(e.g. qpdf --decrypt --password=... in.pdf out.pdf) and add that",
                )
        pages = _page_texts(reader, path)
        info = reader.metadata or {}
    except DocumentError:
        raise
    except (FileNotDecryptedError, PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(path, f"the PDF is damaged or not a PDF ({exc}); re-save it") from None
    except Exception as exc:  # pypdf raises many kinds on broken input
        raise DocumentError(
            path, f"the PDF cannot be read ({type(exc).__name__}: {exc}); re-save it"
        ) from None
    out = _assemble(pages, outline_entries(reader, len(pages)))
    if not out.text.strip():
        raise DocumentError(path, NO_TEXT)
    for key, attr in (("title", "/Title"), ("author", "/Author"), ("date", "/CreationDate")):
        value = info.get(attr) if hasattr(info, "get") else None
        if value and str(value).strip():
            out.metadata[key] = _pdf_date(str(value)) if key == "date" else str(value).strip()
    out.title = " ".join(out.metadata.pop("title", "").split()) or _first_line(pages)
    return out


def _first_line(pages: list[str]) -> str:
    """The first page's first line, running header or not (often the document's title), when
    it is short enough to be one; "" otherwise (then the text's first line is the title)."""
    for line in page_lines(clean(pages[0])) if pages else []:
        if line.strip() and not BARE_NUMBER.fullmatch(line.strip()):
            line = " ".join(line.split())
            return line if len(line) <= MAX_TITLE_CHARS else ""
    return ""


def outline_entries(reader, page_count: int) -> list[tuple[int, str]]:
    """(0-based page, title) of each outline entry, in outline order. Entries that point at no
    page of this document, or that cannot be read, are left out; so is a broken outline."""
    entries: list[tuple[int, str]] = []
    try:
        stack = [iter(reader.outline)]
        while stack and len(entries) < MAX_OUTLINE_ENTRIES:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
            elif isinstance(item, list):
                if len(stack) < 64:
                    stack.append(iter(item))
            else:
                title = " ".join(clean(str(getattr(item, "title", "") or "")).split())[:200]
                try:
                    page = reader.get_destination_page_number(item)
                except Exception:  # a destination that names no page of this document
                    continue
                if title and isinstance(page, int) and 0 <= page < page_count:
                    entries.append((page, title))
    except Exception:  # pypdf raises many kinds on a broken outline: read the text without it
        return []
    return entries


def _assemble(texts: list[str], outline: list[tuple[int, str]]) -> Extracted:
    """The document text: each page's paragraphs, its outline headings as blocks of their own."""
    titles: dict[int, list[str]] = {}
    for page, title in outline:
        titles.setdefault(page, []).append(title)
    pages = strip_running_lines(
        [page_lines(clean(t)) for t in texts], [titles.get(n, []) for n in range(len(texts))]
    )
    keep = compounds(texts)
    out = Extracted()
    builder = Builder()
    for number, lines in enumerate(pages):
        headings = find_headings(lines, titles.get(number, []))
        at = {h.line: h for h in headings if h.line is not None}
        # not found in the text: the section starts with the page
        starts_page = [h.title for h in headings if h.line is None]
        blocks: list[tuple[list[str], str]] = []
        cut = 0
        for line in sorted(at):
            blocks += [(p, "") for p in paragraphs(lines[cut:line])]
            cut = line + at[line].lines
            blocks.append((lines[line:cut], at[line].title))
        blocks += [(p, "") for p in paragraphs(lines[cut:])]
        page_start = builder.length + (2 if builder.parts else 0)
        first = end = None
        mark = len(builder.sections)
        for block, section in blocks:
            start, stop = builder.add(join_hyphenated("\n".join(block), keep))
            if stop == start:
                continue
            first, end = (start if first is None else first), stop
            if section:
                builder.sections.append((start, section))
        out.pages.append((first, end) if first is not None else (page_start, page_start))
        where = first if first is not None else page_start
        builder.sections[mark:mark] = [(where, title) for title in starts_page]
    out.text = builder.text()
    out.sections = sorted(builder.sections, key=lambda s: s[0])
    return out


def _page_texts(reader, path: str) -> list[str]:
    """Each page's text, within bounds. Pages sharing their content stream and resources are
    read once: a small PDF can show one huge compressed stream on every page."""
    count = len(reader.pages)
    if count > limits.MAX_PDF_PAGES:
        raise DocumentError(
            path, f"the PDF has {count:,} pages; the limit is {limits.MAX_PDF_PAGES:,}. Split it"
        )
    deadline = time.monotonic() + limits.MAX_PDF_SECONDS
    texts: list[str] = []
    total = 0
    by_content: dict[tuple, str] = {}
    for number, page in enumerate(reader.pages, 1):
        key = _content_key(page)
        text = by_content.get(key) if key else None
        if text is None:
            text = _page_text(page, f"page {number} of {count}", deadline, path)
            if key:
                by_content[key] = text
        total += len(text)
        if total > limits.MAX_TEXT_CHARS:
            raise DocumentError(
                path,
                f"the PDF holds over {limits.MAX_TEXT_CHARS:,} characters of text (the limit, "
                f"passed at page {number} of {count}); split it into smaller files",
            )
        texts.append(text)
    return texts


class _Stop(Exception):
    pass


def _page_text(page, where: str, deadline: float, path: str) -> str:
    """One page's text; stops when the page shows too much text or the time is up."""
    stop: list[str] = []  # sticky: pypdf logs and skips errors raised inside form XObjects
    shown = 0

    def guard(operator: bytes, operands: list, *_) -> None:
        nonlocal shown
        if operator in (b"Tj", b"TJ", b"'", b'"'):
            shown += _shown_chars(operands)
            if shown > limits.MAX_PAGE_CHARS and not stop:
                stop.append(f"{where} shows over {limits.MAX_PAGE_CHARS:,} characters")
        if time.monotonic() > deadline and not stop:
            stop.append(
                f"reading its text took over {limits.MAX_PDF_SECONDS} s (stopped at {where})"
            )
        if stop:
            raise _Stop

    try:
        guard(b"", [])  # the time may be up already
        text = page.extract_text(visitor_operand_before=guard) or ""
    except _Stop:
        pass
    if stop:
        raise DocumentError(path, f"{stop[0]}; {limits.SLOW_PDF}")
    return text


def _shown_chars(operands: list) -> int:
    """The characters (string bytes) a text-showing operator's operands hold."""
    items = [x for o in operands for x in (o if isinstance(o, list) else [o])]
    return sum(len(x) for x in items if isinstance(x, (str, bytes)))


def _content_key(page) -> tuple | None:
    """What a page's text depends on, when its content is a shared (indirect) object."""
    from pypdf.generic import IndirectObject

    contents = page.get("/Contents")  # unresolved: an indirect reference when shared
    parts = contents if isinstance(contents, list) else [contents]
    if not parts or not all(isinstance(p, IndirectObject) for p in parts):
        return None
    refs = tuple((p.idnum, p.generation) for p in parts)
    return refs, repr(page.get("/Resources")), repr(page.get("/Rotate"))


def _pdf_date(value: str) -> str:
    match = re.match(r"D?:?(\d{4})(\d{2})?(\d{2})?", value)
    if not match:
        return value
    return "-".join(p for p in match.groups() if p)
