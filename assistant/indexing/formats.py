"""Text out of HTML, PDF and DOCX files: the extracted text, its pages, sections and metadata.

Every extractor returns paragraphs joined by blank lines, so the plain-text paragraph rules apply
to the result and citations are character spans into exactly this text. Each file's work is
bounded (`MAX_*`): a small file can unpack to far more text than it holds.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field

from ..errors import DocumentError

INSTALL = ".venv/bin/pip install -e ."
DOCX_TEMPLATE_DATE = "2013-12-23"  # python-docx's blank template says it was created then
MAX_TEXT_CHARS = 20 * 2**20  # as much text as the largest .txt file read (20 MiB)
MAX_PDF_PAGES = 5_000
MAX_PAGE_CHARS = 1_000_000  # a dense page holds a few thousand; pypdf slows quadratically beyond
MAX_PDF_SECONDS = 120  # reading one PDF's text, checked between drawing operations
MAX_DOCX_UNPACKED_BYTES = 512 * 2**20  # the .docx (a zip archive) unpacked
SLOW_PDF = "the PDF may be made to be slow to read; split it or re-save it"


@dataclass
class Extracted:
    text: str = ""
    title: str = ""
    pages: list[tuple[int, int]] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


class _Builder:
    """Joins blocks with blank lines, recording where pages and sections start."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[tuple[int, str]] = []

    def add(self, block: str, heading: bool = False) -> tuple[int, int]:
        block = _clean(block)
        if not block:
            return self.length, self.length
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        self.parts.append(block)
        self.length += len(block)
        if heading:
            self.sections.append((start, " ".join(block.split())[:200]))
        return start, self.length

    def text(self) -> str:
        return "".join(self.parts)


def _clean(text: str) -> str:
    """Normalised newlines, no blank-line runs inside a block, no control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def _missing(package: str, path: str) -> DocumentError:
    return DocumentError(path, f"reading this format needs {package}; install it with: {INSTALL}")


# ---- HTML ---------------------------------------------------------------------------------------


def read_html(raw: bytes, text: str, path: str) -> Extracted:
    """The main text of a web page (trafilatura drops navigation, ads, scripts), with its title,
    headings as sections, and author/date/outlet when the page says them."""
    try:
        import trafilatura
        from lxml import etree
    except ImportError:
        raise _missing("trafilatura", path) from None
    xml = None
    for favor_recall in (False, True):
        xml = trafilatura.extract(
            text,
            output_format="xml",
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_recall=favor_recall,
            deduplicate=False,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
        if xml:
            break
    out = Extracted()
    builder = _Builder()
    if xml:
        root = etree.fromstring(xml.encode("utf-8"))
        for key, attr in (("author", "author"), ("date", "date"), ("outlet", "sitename")):
            if root.get(attr):
                out.metadata[key] = root.get(attr)
        if root.get("source"):
            out.metadata["url"] = root.get("source")
        out.title = (root.get("title") or "").strip()
        main = root.find("main")
        for element in main.iter() if main is not None else ():
            tag = element.tag
            if tag in ("head", "p", "item", "row", "quote", "code"):
                if tag in ("p", "item", "code") and _inside(element, ("row", "quote", "item")):
                    continue
                block = _element_text(element, tag)
                builder.add(block, heading=tag == "head")
    if not builder.parts:  # no main text found: the page's visible text, scripts dropped
        builder.add(_visible_text(text))
    out.text = builder.text()
    out.sections = builder.sections
    if not out.title and builder.sections:
        out.title = builder.sections[0][1]
    return out


def _inside(element, tags: tuple[str, ...]) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False


def _element_text(element, tag: str) -> str:
    if tag == "row":
        return " | ".join(" ".join("".join(c.itertext()).split()) for c in element)
    text = "".join(element.itertext())
    return text if tag == "code" else " ".join(text.split())


def _visible_text(text: str) -> str:
    try:
        import lxml.html

        tree = lxml.html.fromstring(text)
    except (ImportError, ValueError, Exception):  # lxml raises its own parser errors
        return ""
    for bad in tree.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    return "\n\n".join(" ".join(t.split()) for t in tree.itertext() if t.strip())


# ---- PDF ----------------------------------------------------------------------------------------


def read_pdf(raw: bytes, path: str) -> Extracted:
    """Text page by page (pypdf); each page's span is recorded so citations can name it."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    except ImportError:
        raise _missing("pypdf", path) from None
    import logging

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
    out = Extracted()
    builder = _Builder()
    for page_text in pages:
        start = builder.length + (2 if builder.parts else 0)
        first, end = builder.add(page_text)
        out.pages.append((first, end) if end > first else (start, start))
    out.text = builder.text()
    if not out.text.strip():
        raise DocumentError(
            path,
            "the PDF has no extractable text (a scan?); run OCR on it first "
            "(e.g. ocrmypdf in.pdf out.pdf) and add the result",
        )
    for key, attr in (("title", "/Title"), ("author", "/Author"), ("date", "/CreationDate")):
        value = info.get(attr) if hasattr(info, "get") else None
        if value and str(value).strip():
            out.metadata[key] = _pdf_date(str(value)) if key == "date" else str(value).strip()
    out.title = out.metadata.pop("title", "")
    return out


def _page_texts(reader, path: str) -> list[str]:
    """Each page's text, within bounds. Pages sharing their content stream and resources are
    read once: a small PDF can show one huge compressed stream on every page."""
    count = len(reader.pages)
    if count > MAX_PDF_PAGES:
        raise DocumentError(
            path, f"the PDF has {count:,} pages; the limit is {MAX_PDF_PAGES:,}. Split it"
        )
    deadline = time.monotonic() + MAX_PDF_SECONDS
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
        if total > MAX_TEXT_CHARS:
            raise DocumentError(
                path,
                f"the PDF holds over {MAX_TEXT_CHARS:,} characters of text (the limit, passed "
                f"at page {number} of {count}); split it into smaller files",
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
            if shown > MAX_PAGE_CHARS and not stop:
                stop.append(f"{where} shows over {MAX_PAGE_CHARS:,} characters")
        if time.monotonic() > deadline and not stop:
            stop.append(f"reading its text took over {MAX_PDF_SECONDS} s (stopped at {where})")
        if stop:
            raise _Stop

    try:
        guard(b"", [])  # the time may be up already
        text = page.extract_text(visitor_operand_before=guard) or ""
    except _Stop:
        pass
    if stop:
        raise DocumentError(path, f"{stop[0]}; {SLOW_PDF}")
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


# ---- DOCX ---------------------------------------------------------------------------------------


def read_docx(raw: bytes, path: str) -> Extracted:
    """Paragraphs and tables in document order (python-docx); headings become sections and the
    Title style (or the core title property) the title."""
    import zipfile

    try:
        import docx
        from docx.table import Table
    except ImportError:
        raise _missing("python-docx", path) from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_DOCX_UNPACKED_BYTES:
            raise DocumentError(
                path,
                f"the .docx unpacks to {unpacked / 2**20:,.0f} MiB; the limit is "
                f"{MAX_DOCX_UNPACKED_BYTES // 2**20} MiB. Split it into smaller files",
            )
        document = docx.Document(io.BytesIO(raw))
        blocks: list[tuple[str, str]] = []  # (kind, text)
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = []
                    for cell in row.cells:
                        value = " ".join(cell.text.split())
                        if value and (not cells or cells[-1] != value):  # merged cells repeat
                            cells.append(value)
                    blocks.append(("text", " | ".join(cells)))
                continue
            style = (item.style.name if item.style is not None else "") or ""
            kind = (
                "title"
                if style == "Title"
                else "heading"
                if style.startswith("Heading")
                else "text"
            )
            blocks.append((kind, item.text))
        core = document.core_properties
    except DocumentError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, KeyError, lxml errors...
        raise DocumentError(
            path, f"the .docx file is damaged or not a Word document ({exc}); re-save it"
        ) from None
    out = Extracted()
    builder = _Builder()
    for kind, text in blocks:
        builder.add(text, heading=kind == "heading")
        if kind == "title" and not out.title:
            out.title = " ".join(text.split())
    out.text = builder.text()
    out.sections = builder.sections
    out.title = out.title or (core.title or "").strip()
    if not out.title and out.sections and out.sections[0][0] == 0:
        out.title = out.sections[0][1]
    if core.author:
        out.metadata["author"] = core.author
    if core.created and core.created.isoformat()[:10] != DOCX_TEMPLATE_DATE:
        out.metadata["date"] = core.created.date().isoformat()
    return out
