"""Citations people can reuse: one passage as a quote with its citation, and a whole
conversation as Markdown. Pure functions over the answer JSON (`Answer.to_dict()`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

# Shown in a citation, in this order, when the document provides them.
CITED_METADATA = ("author", "outlet", "publisher", "date")
STATE_LABELS = {
    "answered": "Answered",
    "weak": "Weak match",
    "not_found": "Not in the documents",
}


def _span(prefix: str, numbers: Sequence[int]) -> str:
    if not numbers:
        return ""
    first, last = numbers[0], numbers[-1]
    return f"{prefix}{first}" if first == last else f"{prefix}{first}–{last}"


def pages_label(pages: Sequence[int]) -> str:
    """'p. 3' or 'pp. 3–4'; '' when the document has no pages."""
    if not pages:
        return ""
    return f"p. {pages[0]}" if pages[0] == pages[-1] else f"pp. {pages[0]}–{pages[-1]}"


def locator(source: Mapping) -> str:
    """Where in the document: page(s) when it has pages, then paragraph(s)."""
    parts = [pages_label(source.get("pages") or ()), _span("¶", source.get("paragraphs") or ())]
    return ", ".join(p for p in parts if p)


def metadata_items(metadata: Mapping | Iterable | None) -> list[tuple[str, str]]:
    """The cited metadata present, in citation order ((key, value) pairs or a dict)."""
    if not metadata:
        return []
    values = dict(metadata)
    return [(key, str(values[key])) for key in CITED_METADATA if str(values.get(key) or "").strip()]


def citation_text(source: Mapping) -> str:
    """'Title › Section — Author, Outlet, Date, p. 3, ¶7, chars 1,234–1,456, path/file.pdf'
    (the section, metadata and pages only when the document has them)."""
    byline = ", ".join(value for _, value in metadata_items(source.get("metadata")))
    head = source.get("title") or source.get("doc_id", "")
    if source.get("section") and source["section"] != head:
        head = f"{head} › {source['section']}"
    if byline:
        head = f"{head} — {byline}"
    rest = [
        locator(source),
        f"chars {source['start']:,}–{source['end']:,}",
        source.get("path", ""),
    ]
    return ", ".join([head, *(r for r in rest if r)])


def quote_with_citation(passage: Mapping) -> str:
    """What a passage's copy button copies: the quote, then its citation."""
    return f"“{passage['text'].strip()}”\n— {citation_text(passage['source'])}"


def _blockquote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


def _bold(text: str) -> str:
    """Each line of `text` in bold (Markdown emphasis cannot span lines of a quote)."""
    out = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        out.append(f"{lead}**{core}**{trail}")
    return "\n".join(out)


def _marked(passage: Mapping) -> str:
    """The passage with its highlighted sentence in bold."""
    text, h = passage["text"], passage.get("highlight") or {}
    start, end = h.get("start", 0), h.get("end", 0)
    if not 0 <= start < end <= len(text):
        return text
    return text[:start] + _bold(text[start:end]) + text[end:]


def answer_markdown(number: int, answer: Mapping) -> str:
    """One question and its answer, every passage quoted and cited."""
    lines = [f"## {number}. {str(answer.get('question', '')).strip()}".rstrip(), ""]
    if answer.get("error"):
        return "\n".join([*lines, f"_Error: {answer['error']}_", ""])
    state = answer.get("state") or ("answered" if answer.get("answerable") else "not_found")
    settings = answer.get("settings") or {}
    facts = [f"**{STATE_LABELS.get(state, state)}** (confidence {answer.get('confidence', 0):.2f})"]
    if answer.get("searched") and answer["searched"] != answer.get("question"):
        facts.append(f"searched: “{answer['searched']}”")
    if settings:
        used = [
            f"{settings.get('k')} passages",
            str(settings.get("retriever")),
            f"answerable from {settings.get('answerable_at', 0):.2f}",
        ]
        if settings.get("index"):
            used.append(f"index {settings['index']}")
        if settings.get("documents"):
            used.append(f"documents {', '.join(settings['documents'])}")
        facts.append("settings: " + ", ".join(used))
    lines += [" · ".join(facts), ""]
    if state == "not_found":
        lines += ["Nothing in the documents answers this question, so no passage is shown.", ""]
        return "\n".join(lines)
    if state == "weak":
        lines += ["> ⚠ Weak match: these passages are the closest found and may not answer it.", ""]
    for passage in answer.get("passages", ()):
        lines += [
            f"{passage['rank']}. {citation_text(passage['source'])}",
            "",
            _blockquote(_marked(passage)),
            "",
        ]
    return "\n".join(lines)


def conversation_markdown(answers: Sequence[Mapping], exported_at: float | None = None) -> str:
    """The whole conversation as Markdown: each question, its state and its cited passages."""
    stamp = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(time.time() if exported_at is None else exported_at)
    )
    head = [
        "# Conversation with the Citation Assistant",
        "",
        f"Exported {stamp}. Every passage is a verbatim quote of its source; the highlighted "
        "sentence is in bold.",
        "",
        "",
    ]
    if not answers:
        return "\n".join([*head, "_No questions asked yet._", ""])
    return (
        "\n".join(head)
        + "\n".join(answer_markdown(i, a) for i, a in enumerate(answers, 1)).rstrip("\n")
        + "\n"
    )
