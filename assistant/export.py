"""Citations people can reuse: one passage as a quote with its citation, and a whole
conversation as Markdown. Pure functions over the answer JSON (`Answer.to_dict()`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from .answer.citations import citation_text

STATE_LABELS = {
    "answered": "Answered",
    "weak": "Weak match",
    "not_found": "Not in the documents",
}


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
    if answer.get("reason"):
        lines += [f"_{answer['reason']}_", ""]
    if state == "not_found":
        lines += ["Nothing in the documents answers this question, so no passage is shown.", ""]
        return "\n".join(lines)
    if state == "weak":
        lines += ["> ⚠ Weak match: these passages are the closest found and may not answer it.", ""]
    for passage in answer.get("passages", ()):
        related = " (less related)" if passage.get("less_related") else ""
        lines += [
            f"{passage['rank']}. {citation_text(passage['source'])}{related}",
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
