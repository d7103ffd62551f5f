"""A PDF's page texts made readable: running headers, footers and page numbers out, paragraphs
found, words hyphenated across a line break joined, and the outline's headings found in the text.

Pure functions over each page's lines (what pypdf extracts), so they are tested without PDFs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be a header or footer
MAX_RUNNING_CHARS = 120  # a running header or footer is one short line
ROMAN = r"(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"
BARE_NUMBER = re.compile(
    rf"(?i)(page\s+)?(\d{{1,5}}|{ROMAN})(\s*(/|of)\s*\d{{1,5}})?|[-–—]\s*\d{{1,5}}\s*[-–—]"
)
FOLIO = re.compile(r"(?i)^(\d{1,5})\b|\b(\d{1,5})$|\bpage\s+(\d{1,5})")
HYPHENATED = re.compile(r"([^\W\d_]{2,})-\n([^\W\d_]{2,})")
COMPOUND = re.compile(r"\b[^\W\d_]+-[^\W\d_]+\b")
NUMBER_LABEL = re.compile(
    r"(?i)((chapter|section|appendix|part)\s+)?([0-9]+|[a-z]|[ivxlc]+)(\s[0-9]+)*"
)
SENTENCE_END = re.compile(r"[.!?:;)\]\"”]$")


@dataclass(frozen=True)
class Heading:
    """Where an outline entry's heading is on its page: `line` (None: not found in the text;
    the section then starts where the page's text does, or after the heading before it)."""

    title: str  # the heading line when found ("4.1 ASN.1 schema functions"), else the outline's
    line: int | None
    lines: int = 1  # a long heading may wrap over two lines


def page_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _key(line: str) -> str:
    return " ".join(line.lower().split())


def strip_running_lines(
    pages: list[list[str]], headings: list[list[str]] | None = None
) -> list[list[str]]:
    """Each page's lines without its running header and footer: edge lines that repeat word
    for word on several pages, that carry the page's folio (its number in a steady relation to
    the page's position), or that are a bare page number. A line that is one of the page's
    `headings` (its outline titles) stays."""
    count = len(pages)
    top: Counter[str] = Counter()
    bottom: Counter[str] = Counter()
    offsets: Counter[int] = Counter()
    for number, lines in enumerate(pages, 1):
        top.update({_key(line) for line in lines[:EDGE_LINES]})
        bottom.update({_key(line) for line in lines[-EDGE_LINES:]})
        offsets.update({n - number for n in _folios(lines[:EDGE_LINES] + lines[-EDGE_LINES:])})
    repeat = 3 if count >= 4 else max(count, 2)
    folio_offset, seen = offsets.most_common(1)[0] if offsets else (0, 0)
    steady_folios = seen >= max(3, count // 4)

    def running(line: str, counts: Counter[str], number: int) -> bool:
        if len(line) > MAX_RUNNING_CHARS:
            return False
        if any(_is_heading(_norm(line), _norm(title)) for title in own[number - 1]):
            return False
        if BARE_NUMBER.fullmatch(line.strip()) or counts[_key(line)] >= repeat:
            return True
        return steady_folios and number + folio_offset in _folios([line])

    own = headings or [[] for _ in pages]
    kept = []
    for number, lines in enumerate(pages, 1):
        first, last = 0, len(lines)
        while first < min(EDGE_LINES, last) and running(lines[first], top, number):
            first += 1
        while last > max(first, len(lines) - EDGE_LINES) and running(
            lines[last - 1], bottom, number
        ):
            last -= 1
        kept.append(lines[first:last])
    return kept


def _folios(lines: list[str]) -> set[int]:
    """Numbers that open or close a short line, or follow "page": where a page number is."""
    found = set()
    for line in lines:
        if len(line) <= MAX_RUNNING_CHARS:
            for match in FOLIO.finditer(line.strip()):
                found.add(int(next(g for g in match.groups() if g)))
    return found


def _norm(text: str) -> str:
    return " ".join(re.sub(r"\W+", " ", text.lower()).split())


def find_headings(lines: list[str], titles: list[str]) -> list[Heading]:
    """Each outline title's heading line on this page, in order: the line that reads the title,
    alone or after a number ("4.1", "Chapter 4", "A"), possibly wrapped over two lines."""
    found = []
    cursor = 0
    for title in titles:
        wanted = _norm(title)
        hit = None
        for i in range(cursor, len(lines)):
            for span in (1, 2):
                if i + span > len(lines) or not wanted:
                    continue
                line = " ".join(lines[i : i + span])
                if _is_heading(_norm(line), wanted):
                    hit = Heading(" ".join(line.split())[:200], i, span)
                    break
            if hit:
                break
        if hit is None:
            found.append(Heading(title, None))
        else:
            found.append(hit)
            cursor = hit.line + hit.lines
    return found


def _is_heading(line: str, title: str) -> bool:
    if line == title:
        return True
    if not line.endswith(" " + title):
        return False
    return bool(NUMBER_LABEL.fullmatch(line[: -len(title) - 1]))


def paragraphs(lines: list[str]) -> list[list[str]]:
    """Lines grouped into paragraphs: a line that ends a sentence well short of the page's
    usual line length ends its paragraph."""
    if not lines:
        return []
    lengths = sorted(len(line) for line in lines)
    usual = lengths[int(0.8 * (len(lengths) - 1))]
    groups: list[list[str]] = [[]]
    for line in lines:
        groups[-1].append(line)
        if len(lines) >= 4 and len(line) < 0.75 * usual and SENTENCE_END.search(line):
            groups.append([])
    return [g for g in groups if g]


def compounds(texts: list[str]) -> set[str]:
    """Hyphenated words written on one line somewhere in the document ("well-known")."""
    return {m.group().lower() for text in texts for m in COMPOUND.finditer(text)}


def join_hyphenated(text: str, keep: set[str]) -> str:
    """'declara-\\ntions' -> 'declarations'; a compound the document writes with its hyphen
    elsewhere keeps it ('well-\\nknown' -> 'well-known')."""

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        if not right[0].islower():
            return match.group()
        word = f"{left}-{right}"
        return word if word.lower() in keep else left + right

    return HYPHENATED.sub(join, text)
