"""Where a passage comes from: its source, and the one citation every front end shows."""

from __future__ import annotations

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
    'Title › Section — Author, Outlet, Date, p. 3, ¶7, chars 1,234–1,456, path/file.pdf'.
    The section, metadata and pages come only when the document has them. `source` is a
    `Source` or its JSON form."""
    source = _fields(source)
    head = heading(source)
    if byline(source):
        head = f"{head} — {byline(source)}"
    rest = [locator(source), chars(source), source.get("path", "")]
    return ", ".join([head, *(r for r in rest if r)])


def heading(source: Source | Mapping) -> str:
    """'Title › Section' (the section when there is one other than the title)."""
    source = _fields(source)
    title, section = source.get("title") or source.get("doc_id", ""), source.get("section")
    return f"{title} › {section}" if section and section != title else title


def locator(source: Source | Mapping) -> str:
    """Where in the document: page(s) when it has pages, then paragraph(s): 'p. 3, ¶7'."""
    source = _fields(source)
    parts = [pages_label(source.get("pages") or ()), _span("¶", source.get("paragraphs") or ())]
    return ", ".join(p for p in parts if p)


def chars(source: Source | Mapping) -> str:
    source = _fields(source)
    return f"chars {source['start']:,}–{source['end']:,}"


def byline(source: Source | Mapping, separator: str = ", ") -> str:
    """'Author, Outlet, Date': the cited metadata the document provides, in that order."""
    return separator.join(value for _, value in metadata_items(_fields(source).get("metadata")))


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
