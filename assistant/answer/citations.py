"""Where a passage comes from: its source, and the one citation every front end shows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict

from ..schema import Chunk, Source, display_title

# Shown in a citation, in this order, when the document provides them.
CITED_METADATA = ("author", "outlet", "publisher", "date")


def source_for(chunk: Chunk, metadata: tuple[tuple[str, str], ...] = ()) -> Source:
    return Source(
        doc_id=chunk.doc_id,
        title=display_title(chunk.title, chunk.path, chunk.doc_id),
        path=chunk.path,
        paragraphs=chunk.paragraphs,
        start=chunk.start,
        end=chunk.end,
        pages=chunk.pages,
        section=chunk.section,
        metadata=metadata,
    )


def citation_text(source: Source | Mapping) -> str:
    """The one citation every front end shows (CLI, chat copy button, export):
    'Title — Author, Outlet, Date, p. 11, § 4.1 Section, ¶7, chars 1,234–1,456, path/file.pdf'.
    The metadata, pages and section come only when the document has them. `source` is a
    `Source` or its JSON form."""
    source = _fields(source)
    head = heading(source)
    if byline(source):
        head = f"{head} — {byline(source)}"
    rest = [locator(source), chars(source), source.get("path", "")]
    return ", ".join([head, *(r for r in rest if r)])


def heading(source: Source | Mapping) -> str:
    """The document's title (its id when it has none)."""
    source = _fields(source)
    return source.get("title") or source.get("doc_id", "")


def locator(source: Source | Mapping) -> str:
    """Where in the document: page(s) when it has pages, the section when it has sections,
    then paragraph(s): 'p. 11, § 4.1 ASN.1 schema functions, ¶7'."""
    source = _fields(source)
    parts = [
        pages_label(source.get("pages") or ()),
        section_label(source.get("section") or "", source.get("title") or ""),
        _span("¶", source.get("paragraphs") or ()),
    ]
    return ", ".join(p for p in parts if p)


def section_label(section: str, title: str) -> str:
    """'§ Section'; '' when there is none or the title already says it (a web page's <title>
    is often its first heading and the site's name)."""
    section = " ".join(section.split())
    if not section:
        return ""
    said = title.startswith(section) and not title[len(section) : len(section) + 1].isalnum()
    return "" if said else f"§ {section}"


def chars(source: Source | Mapping) -> str:
    source = _fields(source)
    return f"chars {source['start']:,}–{source['end']:,}"


def byline(source: Source | Mapping, separator: str = ", ") -> str:
    """'Author, Outlet, Date': the cited metadata the document provides, in that order; a
    value the title already says (a web page's title often ends with its site's name) is left
    out."""
    source = _fields(source)
    title = source.get("title") or ""
    items = metadata_items(source.get("metadata"))
    return separator.join(value for _, value in items if not _says(title, value))


def _says(title: str, value: str) -> bool:
    """Whether `title` holds `value` as whole words ("Ann" is not in "Annual")."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", title) is not None


def pages_label(pages: Sequence[int]) -> str:
    """'p. 3' or 'pp. 3–4'; '' when the document has no pages."""
    return _span("p. ", pages) if len(pages) < 2 or pages[0] == pages[-1] else _span("pp. ", pages)


def metadata_items(metadata: Mapping | Iterable | None) -> list[tuple[str, str]]:
    """The cited metadata present, in citation order ((key, value) pairs or a dict)."""
    if not metadata:
        return []
    values = dict(metadata)
    return [(key, str(values[key])) for key in CITED_METADATA if str(values.get(key) or "").strip()]


def _span(prefix: str, numbers: Sequence[int]) -> str:
    if not numbers:
        return ""
    first, last = numbers[0], numbers[-1]
    return f"{prefix}{first}" if first == last else f"{prefix}{first}–{last}"


def _fields(source: Source | Mapping) -> Mapping:
    return source if isinstance(source, Mapping) else asdict(source)
