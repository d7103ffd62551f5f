"""Markdown's structure, read in place: `#` headings as sections, fenced code blocks as code.

The text is not changed (citations are spans of the file as written). A fenced block's lines
between its fences are one code paragraph, blank lines and all; the fence lines belong to no
paragraph. A fence that is never closed runs to the end of the file, as CommonMark (and
GitHub) render it, so what is code matches what a reader sees.
"""

from __future__ import annotations

import re

HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+")
OPENING = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})([^\n]*)")
LINE = re.compile(r"[^\n]*\n?")


def fenced_blocks(text: str) -> list[tuple[int, int, int, int]]:
    """(block start, block end, code start, code end) of each fenced code block: the block
    includes its fence lines, the code is what lies between them."""
    blocks = []
    lines = [(m.start(), m.end()) for m in LINE.finditer(text) if m.end() > m.start()]
    i = 0
    while i < len(lines):
        start, end = lines[i]
        opening = OPENING.fullmatch(text[start:end].rstrip("\n"))
        if not opening or (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            i += 1
            continue
        fence = opening.group(1)
        closing = re.compile(rf"[ \t]{{0,3}}{fence[0]}{{{len(fence)},}}[ \t]*")
        j = i + 1
        while j < len(lines) and not closing.fullmatch(
            text[lines[j][0] : lines[j][1]].rstrip("\n")
        ):
            j += 1
        if j < len(lines):  # closed: the code ends where the closing fence begins
            blocks.append((start, lines[j][1], end, lines[j][0]))
            i = j + 1
        else:  # never closed: code to the end of the file
            blocks.append((start, len(text), end, len(text)))
            i = j
    return blocks


def sections(text: str, prose: list[tuple[int, int]]) -> tuple[tuple[int, str], ...]:
    """(start, heading) of each one-line `#` heading paragraph (code blocks left out)."""
    return tuple(
        (s, HEADING.sub("", text[s:e]).strip().rstrip("#").strip()[:200])
        for s, e in prose
        if HEADING.match(text[s:e]) and "\n" not in text[s:e]
    )
