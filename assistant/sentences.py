"""Rule-based sentence boundaries that return exact character spans.

Chunking and highlighting both work on these spans, so every sentence shown to a user is a
verbatim slice of its source.
"""

from __future__ import annotations

import re
from itertools import pairwise

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st jr sr vs inc ltd co corp gen col lt sgt capt gov sen rep rev fig no vol
    pp jan feb mar apr jun jul aug sep sept oct nov dec approx est mt ave blvd dept univ cf al
    ca""".split()
)
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and a likely start.
_END = re.compile(r"""[.!?…]+["'”’»)\]]*(?=\s+["'“‘«(\[]?[A-Z0-9À-ÖØ-Þ])""")
# A new line that starts a list item or heading also starts a new sentence.
_LINE_START = re.compile(r"\n(?=[ \t]*(?:[-*•+]|\d+[.)]|#{1,6})\s)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` closes an abbreviation like 'U.S.', 'Dr.' or 'J.'."""
    match = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if not match:
        return False
    word = match.group(1)
    if "." in word or len(word) == 1:  # dotted acronym (U.S., e.g.) or an initial (J.)
        return True
    return word.lower() in _ABBREVIATIONS


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans (s, e) of the sentences in text[start:end], stripped of surrounding whitespace."""
    end = len(text) if end is None else end
    cuts = {start, end}
    for m in _END.finditer(text, start, end):
        first_mark = m.start()
        if (
            text[first_mark] == "."
            and m.end() - first_mark == 1
            and _is_abbreviation(text, first_mark)
        ):
            continue
        cuts.add(m.end())
    cuts.update(m.start() for m in _LINE_START.finditer(text, start, end))
    spans = [strip_span(text, s, e) for s, e in pairwise(sorted(cuts))]
    return [(s, e) for s, e in spans if s < e]


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span moved inward past whitespace at both ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences_of(text: str) -> list[tuple[int, int]]:
    """A passage's sentences; the whole text when it has no sentence break."""
    return sentence_spans(text) or [(0, len(text))]
