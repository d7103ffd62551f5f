"""Text out of HTML, PDF and DOCX files: the extracted text, its pages, sections, code blocks
and metadata. HTML is read in `html.py`, PDF in `pdf.py`, DOCX here.

Every extractor returns blocks joined by blank lines, so the plain-text paragraph rules apply
to the result and citations are character spans into exactly this text; a code block is one
paragraph, blank lines and all. Each file's work is bounded (`MAX_*`): a small file can unpack
to far more text than it holds.
"""

from __future__ import annotations

import io
import re
import textwrap
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
CONTROLS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Extracted:
    text: str = ""
    title: str = ""
    pages: list[tuple[int, int]] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)
    code: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each code block
    metadata: dict[str, str] = field(default_factory=dict)


class Builder:
    """Joins blocks with blank lines, recording where sections and code blocks are."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[tuple[int, str]] = []
        self.code: list[tuple[int, int]] = []

    def add(self, block: str, heading: bool = False, code: bool = False) -> tuple[int, int]:
        block = clean_code(block) if code else clean(block)
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
        if code:
            self.code.append((start, self.length))
        return start, self.length

    def text(self) -> str:
        return "".join(self.parts)


def clean(text: str) -> str:
    """Normalised newlines, no blank-line runs inside a block, no control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = CONTROLS.sub(" ", text)
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def clean_code(text: str) -> str:
    """A code block: lines and indentation kept (common indentation removed), no trailing
    spaces, no control characters but tabs, no runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = CONTROLS.sub(" ", text)
    lines = [line.rstrip() for line in text.split("\n")]
    text = textwrap.dedent("\n".join(lines))
    return re.sub(r"\n\n\n+", "\n\n", text).strip()


def missing(package: str, path: str) -> DocumentError:
    return DocumentError(path, f"reading this format needs {package}; install it with: {INSTALL}")


def read_html(raw: bytes, text: str, path: str) -> Extracted:
    from .html import read_html as read

    return read(raw, text, path)


def read_pdf(raw: bytes, path: str) -> Extracted:
    from .pdf import read_pdf as read

    return read(raw, path)


# ---- DOCX ---------------------------------------------------------------------------------------


def read_docx(raw: bytes, path: str) -> Extracted:
    """Paragraphs and tables in document order (python-docx); headings become sections and the
    Title style (or the core title property) the title."""
    import zipfile

    try:
        import docx
        from docx.table import Table
    except ImportError:
        raise missing("python-docx", path) from None
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
    builder = Builder()
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
