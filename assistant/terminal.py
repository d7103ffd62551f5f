"""What the CLI prints: answers as text for a terminal, and JSON; every document- or
user-derived string made safe to print first (a title must not retitle or clear the terminal)."""

from __future__ import annotations

import re
import sys
import textwrap

from .answer.citations import citation_text
from .schema import Answer

BOLD_YELLOW, RESET = "\033[1;33m", "\033[0m"
# what a terminal must not receive from a document or a user: C0 controls but \n and \t, DEL,
# C1 controls (U+009B is CSI) and lone surrogates (they cannot even be encoded)
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_IN_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")  # \n too


def safe(text: object, one_line: bool = False) -> str:
    """Text fit for a terminal: control characters (but tab, and newline unless `one_line`) and
    lone surrogates become visible escapes such as \\x1b, so a title cannot retitle or clear
    the terminal (or, `one_line`, fake another line of a listing)."""

    def escape(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return (_UNSAFE_IN_LINE if one_line else _UNSAFE).sub(escape, str(text))


def render_text(answer: Answer, color: bool = False) -> str:
    """The answer for a terminal: document and user text made `safe`, the highlight in colour
    (or between ** when `color` is off)."""
    lines = [f"Q: {safe(answer.question)}", ""]
    if not answer.answerable:
        lines.append(
            f"Not in the documents. {safe(answer.reason)} "
            "Try other words, or ingest documents that cover it."
        )
        return "\n".join(lines) + "\n"
    if answer.state == "weak":
        lines += [f"Weak match: {safe(answer.reason)} Check the passages.", ""]
    for p in answer.passages:
        h, text = p.highlight, p.text
        on, off = (BOLD_YELLOW, RESET) if color else ("**", "**")
        before, inside, after = text[: h.start], text[h.start : h.end], text[h.end :]
        marked = f"{safe(before)}{on}{safe(inside)}{off}{safe(after)}"
        citation = safe(citation_text(p.source), one_line=True)
        related = ", less related" if p.less_related else ""
        lines.append(f"[{p.rank}] {citation}  (score {p.score:.2f}{related})")
        for paragraph in marked.split("\n"):
            lines.extend(
                textwrap.wrap(paragraph, 100, initial_indent="    ", subsequent_indent="    ")
                or [""]
            )
        lines.append("")
    return "\n".join(lines)


def say(text: str) -> None:
    print(safe(text))


def note(text: str) -> None:
    print(safe(text), file=sys.stderr)


def report_summary(report, strict: bool = False) -> int:
    """The per-file messages, then one summary; exit status 1 when something failed."""
    for message in report.notes:
        note(f"note: {message}")
    for failure in report.failures:
        note(f"error: {failure}")
    for path in report.kept:
        note(f"note: {path}: its earlier indexed version is kept")
    for duplicate in report.duplicates:
        note(f"note: {duplicate}: identical, indexed once")
    if report.failures and strict:
        note(
            f"Nothing was written: {len(report.failures)} file(s) failed (--strict); the existing "
            "index is unchanged."
        )
        return 1
    counts = ", ".join(
        f"{len(items)} {label}"
        for label, items in (
            ("added", report.added),
            ("updated", report.updated),
            ("removed", report.removed),
            ("unchanged", report.unchanged),
            ("failed", report.failures),
        )
        if items
    )
    if report.written:
        say(
            f"Indexed {report.documents} document(s) as {report.chunks} chunks "
            f"({report.tokens:,} tokens) in {report.index_dir}: {counts or 'no change'}; "
            f"embedded {report.embedded} chunks, reused {report.reused}, in {report.seconds:.1f} s"
        )
    else:
        say(
            f"Index is up to date ({counts or 'no files'}): {report.documents} document(s), "
            f"{report.chunks} chunks in {report.index_dir}"
        )
    if report.failures:
        note(
            f"{len(report.failures)} file(s) failed: "
            + "; ".join(f.path for f in report.failures)
            + (". The rest was indexed" if report.written else ". Nothing else changed")
            + "; fix those and run ingest again."
        )
        return 1
    return 0


class ProgressDisplay:
    """Ingest progress on stderr (`Step`s of indexing/progress.py). On a terminal: one line per
    stage, redrawn in place with a bar, the count, the rate and the time left. Elsewhere (a
    log, a pipe): a plain line now and then, only for a stage that lasts more than a few
    seconds, so short runs print nothing. Nothing goes to stdout."""

    WIDTH = 24  # characters of the bar
    REDRAW_S = 0.1  # at most this often on a terminal
    QUIET_S = 3.0  # a plain line only once a stage has run this long...
    EVERY_S = 10.0  # ...and then at most this often

    def __init__(self, stream=None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._stage = ""
        self._drawn = False
        self._last = 0.0

    def __call__(self, step) -> None:
        if step.stage != self._stage:
            self._end_line()
            self._stage, self._last = step.stage, -1e9
        if self.tty:
            if step.finished or step.elapsed - self._last >= self.REDRAW_S:
                self._draw(step)
                self._last = step.elapsed
            if step.finished:
                self._end_line()
        elif step.elapsed >= self.QUIET_S and (
            step.finished or step.elapsed - self._last >= self.EVERY_S
        ):
            self._write(step.describe() + "\n")
            self._last = step.elapsed

    def _draw(self, step) -> None:
        share = step.done / step.total if step.total else 1.0
        filled = round(self.WIDTH * share)
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        self._write(f"\r\x1b[K{step.stage:<9} {bar} {step.describe().split(' ', 1)[1]}")
        self._drawn = True

    def _end_line(self) -> None:
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: progress is not worth failing for
            pass
