"""Where a passage comes from: its source, and the one citation format every front end shows."""

from __future__ import annotations

import re

from ..schema import Chunk, Source, display_title

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


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


def format_citation(source: Source) -> str:
    """'Title, p. 3, § Section, ¶7, chars 1,234–1,456': the one citation format every front end
    shows. The page (paged formats) and section (documents with headings) come when known."""
    parts = [source.title]
    if source.pages:
        first, last = source.pages[0], source.pages[-1]
        parts.append(f"p. {first}" if first == last else f"pp. {first}–{last}")
    if source.section and source.section != source.title:
        parts.append(f"§ {source.section}")
    if source.paragraphs:
        first, last = source.paragraphs[0], source.paragraphs[-1]
        parts.append(f"¶{first}" if first == last else f"¶{first}–{last}")
    parts.append(f"chars {source.start:,}–{source.end:,}")
    return ", ".join(parts)
