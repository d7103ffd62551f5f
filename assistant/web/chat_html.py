"""The chat's HTML: answers with their state, passages, citations, reasons, tools, and the
source viewer. Pure functions over the answer JSON; every piece of document text, title, path
and metadata is HTML-escaped here, and nothing else reaches the page. Keys starting with "_" are
the page's own (`_votes`: each passage's vote token, `_notice`: a warning), not the answer's."""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from html import escape

from ..answer.citations import byline, heading, locator
from ..export import STATE_LABELS, quote_with_citation
from ..schema import CALIBRATED, Document, display_title
from ..words import WORD, content_words

STATE_ICONS = {"answered": "✓", "weak": "⚠", "not_found": "∅"}
THUMB_UP = (  # an SVG thumb, as emoji fonts are often missing; the "down" one is turned
    '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">'
    '<path fill="currentColor" d="M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4'
    "-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1"
    'c.1-.2.2-.5.2-.7v-2z"/></svg>'
)
THUMB_DOWN = THUMB_UP.replace("<svg ", '<svg class="down" ', 1)
MAX_VIEWER_CHARS = 5_000_000  # the viewer shows documents up to this size whole


def attr(value) -> str:
    return escape(str(value), quote=True)


def shared_words(question: str, text: str) -> list[str]:
    """The passage's words that the question shares (after stopwords and crude stemming),
    in the passage's order, each once."""
    wanted = content_words(question)
    seen, words = set(), []
    for match in WORD.finditer(text):
        word = match.group()
        key = word.casefold()
        if key not in seen and content_words(word) & wanted:
            seen.add(key)
            words.append(word)
    return words


def _marked_words(text: str, wanted: set[str]) -> str:
    """`text` escaped, with each word the question shares in <mark class="shared">."""
    if not wanted:
        return escape(text)
    out, pos = [], 0
    for match in WORD.finditer(text):
        if content_words(match.group()) & wanted:
            out.append(escape(text[pos : match.start()]))
            out.append(f'<mark class="shared">{escape(match.group())}</mark>')
            pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def passage_html(text: str, highlight: Mapping, question: str) -> str:
    """The passage text with its best sentence in <mark class="highlight"> and the question's
    words in <mark class="shared"> (shown when the reasons are open)."""
    wanted = content_words(question)
    start, end = int(highlight.get("start", 0)), int(highlight.get("end", 0))
    if not 0 <= start < end <= len(text):
        return _marked_words(text, wanted)
    return (
        _marked_words(text[:start], wanted)
        + f'<mark class="highlight">{_marked_words(text[start:end], wanted)}</mark>'
        + _marked_words(text[end:], wanted)
    )


def why_html(passage: Mapping, searched: str, retriever: str, lexical_weight: float) -> str:
    """Why the passage matched, in plain words: shared words and the two parts of its score."""
    dense, lexical = max(0.0, float(passage["dense"])), max(0.0, float(passage["lexical"]))
    words = shared_words(searched, passage["text"])
    word_part = lexical_weight * lexical
    total = dense + word_part or 1.0
    meaning_share, words_share = dense / total, word_part / total
    ranked_by = {
        "hybrid": "Ranked by both: closeness in meaning plus shared words.",
        "dense": "Ranked by closeness in meaning only (the shared words are shown for reference).",
        "bm25": "Ranked by shared words only (closeness in meaning is shown for reference).",
    }.get(retriever, "")
    word_list = (
        ", ".join(f'<mark class="shared">{escape(w)}</mark>' for w in words)
        if words
        else "<i>none: it matched on meaning, not on the question's words</i>"
    )
    coverage = passage.get("coverage") or {}
    matched, missing = coverage.get("matched") or [], coverage.get("missing") or []
    covers = ""
    if matched or missing:
        covers = (
            "<p>Of what the question asks about, it covers: "
            + (", ".join(f"<b>{escape(w)}</b>" for w in matched) or "<i>nothing</i>")
            + (
                "; not: " + ", ".join(f'<b class="missing">{escape(w)}</b>' for w in missing)
                if missing
                else ""
            )
            + ".</p>"
        )
    return (
        '<details class="why"><summary>Why this passage?</summary><div class="why-body">'
        f"{covers}<p>Words it shares with the question: {word_list}.</p>"
        f'<div class="score-bar" role="img" aria-label="Meaning {meaning_share:.0%}, '
        f'shared words {words_share:.0%} of the score">'
        f'<span class="bar-meaning" style="width:{100 * meaning_share:.1f}%"></span>'
        f'<span class="bar-words" style="width:{100 * words_share:.1f}%"></span></div>'
        '<p class="why-legend"><span class="key key-meaning"></span>'
        f"Close in meaning: {dense:.0%} similar to the question "
        f"({meaning_share:.0%} of the score) · "
        '<span class="key key-words"></span>'
        f"Shared words: {lexical:.0%} of the question's key-word weight found "
        f"({words_share:.0%} of the score)</p>"
        f'<p class="why-note">{ranked_by}</p></div></details>'
    )


def _cite_button(source: Mapping, passage: Mapping, index: str) -> str:
    h = passage.get("highlight") or {}
    data = {
        "index": index,
        "doc": source["doc_id"],
        "start": source["start"],
        "end": source["end"],
        "hs": source["start"] + int(h.get("start", 0)),
        "he": source["start"] + int(h.get("end", 0)),
    }
    attrs = " ".join(f'data-{k}="{attr(v)}"' for k, v in data.items())
    where = locator(source)
    label = heading(source)
    return (
        f'<button type="button" class="cite" {attrs} title="Open the source at this passage">'
        f"[{passage['rank']}] {escape(label)}{', ' + escape(where) if where else ''}"
        "</button>"
    )


def passage_item(answer: Mapping, passage: Mapping, turn: int, lexical_weight: float) -> str:
    source = passage["source"]
    settings = answer.get("settings") or {}
    index = settings.get("index", "")
    searched = answer.get("searched") or answer.get("question", "")
    by = escape(byline(source, " · "))
    token = (answer.get("_votes") or {}).get(passage["rank"], "")
    vote_data = f'data-turn="{turn}" data-rank="{passage["rank"]}" data-token="{attr(token)}"'
    return (
        f'<li class="answer-passage" data-rank="{passage["rank"]}">'
        f'<blockquote class="passage">'
        f"{passage_html(passage['text'], passage.get('highlight') or {}, searched)}</blockquote>"
        f'<p class="citation">{_cite_button(source, passage, index)}'
        + (f' <span class="byline">{by}</span>' if by else "")
        + f' <span class="chars">chars {source["start"]:,}–{source["end"]:,}</span>'
        f' <code class="path">{escape(source.get("path", ""))}</code></p>'
        '<div class="tools">'
        f'<button type="button" class="copy" data-copy="{attr(quote_with_citation(passage))}">'
        "Copy quote + citation</button>"
        f'<button type="button" class="vote" data-vote="1" {vote_data} '
        f'aria-label="Helpful passage" title="Helpful" aria-pressed="false">{THUMB_UP}</button>'
        f'<button type="button" class="vote" data-vote="-1" {vote_data} '
        'aria-label="Not helpful passage" title="Not helpful" aria-pressed="false">'
        f"{THUMB_DOWN}</button>"
        '<span class="tool-status" aria-live="polite"></span></div>'
        f"{why_html(passage, searched, answer.get('retriever', ''), lexical_weight)}</li>"
    )


def percent(p: float) -> str:
    """A probability as people read it: never a flat 100% or 0%."""
    if p > 0.99:
        return "over 99%"
    if p < 0.01:
        return "under 1%"
    return f"{p:.0%}"


def state_html(answer: Mapping) -> str:
    state = answer.get("state") or ("answered" if answer.get("answerable") else "not_found")
    settings = answer.get("settings") or {}
    confidence = float(answer.get("confidence", 0))
    weak_below = settings.get("weak_below", CALIBRATED.weak_below)
    answerable_at = settings.get("answerable_at", CALIBRATED.answerable_at)
    label = STATE_LABELS.get(state, state)
    why = str(answer.get("reason") or "")
    detail = {
        "answered": f"{why} Confidence {percent(confidence)}.",
        "weak": (
            f"{why} Confidence {percent(confidence)}, under {weak_below:.0%}: these are the "
            "closest passages found and may not answer the question. Check them."
        ),
        "not_found": (
            f"{why} Confidence {percent(confidence)}, under the {answerable_at:.0%} needed, "
            "so no passage is shown. Try other words."
        ),
    }[state].strip()
    return (
        f'<p class="state state-{state}" role="status"><b>{STATE_ICONS[state]} {label}</b>'
        f" · {escape(detail)}</p>"
    )


def turn_html(
    number: int, answer: Mapping, lexical_weight: float = CALIBRATED.lexical_weight
) -> str:
    """One question and its answer."""
    question = f'<div class="q"><span class="who">You</span> {escape(answer["question"])}</div>'
    if answer.get("error"):
        body = f'<p class="state state-error" role="alert">{escape(answer["error"])}</p>'
        return f'<section class="turn" id="turn-{number}">{question}{body}</section>'
    state = answer.get("state", "not_found")
    parts = [state_html(answer)]
    if answer.get("_notice"):
        parts.append(
            f'<p class="state state-weak notice" role="alert">{escape(answer["_notice"])}</p>'
        )
    if answer.get("searched") and answer["searched"] != answer["question"]:
        parts.append(f'<p class="searched">Searched: “{escape(answer["searched"])}”</p>')
    public = {k: v for k, v in answer.items() if not k.startswith("_")}  # "_": the page's own
    if state == "not_found":
        parts.append('<div class="not-found">Not in the documents.</div>')
    else:
        passages = answer["passages"]
        close = [p for p in passages if not p.get("less_related")]
        far = [p for p in passages if p.get("less_related")]
        parts.append('<ol class="passages">')
        parts += [passage_item(answer, p, number, lexical_weight) for p in close]
        parts.append("</ol>")
        if far:
            parts.append(
                f'<details class="less-related"><summary>{len(far)} less related passage'
                f"{'s' if len(far) > 1 else ''}</summary>"
                f'<ol class="passages" start="{far[0]["rank"]}">'
            )
            parts += [passage_item(answer, p, number, lexical_weight) for p in far]
            parts.append("</ol></details>")
    parts.append(
        '<details class="answer-json"><summary>Answer JSON (with the settings used)</summary>'
        f"<pre>{escape(json.dumps(public, ensure_ascii=False, indent=2))}</pre></details>"
    )
    data = (
        f'data-state="{attr(state)}" data-question="{attr(answer["question"])}" '
        f'data-searched="{attr(answer.get("searched", ""))}" '
        f'data-retriever="{attr(answer.get("retriever", ""))}"'
    )
    return (
        f'<section class="turn" id="turn-{number}" {data}>{question}'
        f'<div class="a">{"".join(parts)}</div></section>'
    )


WELCOME = (
    '<div class="welcome"><p><b>Ask a question about the documents.</b> Each answer is a set of '
    "quoted passages: click a citation to open the document at that passage, open “Why this "
    "passage?” to see what matched, copy a quote with its citation, or vote it up or down.</p>"
    "</div>"
)


def conversation_html(
    answers: Sequence[Mapping], lexical_weight: float = CALIBRATED.lexical_weight
) -> str:
    if not answers:
        return f'<div class="conversation">{WELCOME}</div>'
    turns = "".join(turn_html(i, a, lexical_weight) for i, a in enumerate(answers, 1))
    return f'<div class="conversation">{turns}</div>'


# --- the source viewer ---

VIEWER_EMPTY = (
    '<div class="viewer-empty">Click a citation to read the passage in its document, with '
    "paragraph (or page) numbers in the margin.</div>"
)


def _segments(text: str, offset: int, start: int, end: int, hs: int, he: int) -> str:
    """text (which sits at `offset` in the document) escaped, with the part inside the
    passage [start, end) in <span class="in-passage"> and the highlighted sentence [hs, he)
    in <mark class="sentence">."""
    inner = {c - offset for c in (start, end, hs, he) if 0 < c - offset < len(text)}
    cuts = sorted({0, len(text)} | inner)
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        piece = escape(text[a:b])
        pos = offset + a
        if hs <= pos < he:
            piece = f'<mark class="sentence">{piece}</mark>'
        if start <= pos < end:
            piece = f'<span class="in-passage">{piece}</span>'
        out.append(piece)
    return "".join(out)


def viewer_html(document: Document, start: int, end: int, hs: int, he: int) -> str:
    """The whole document, paragraph (and page) numbers in the margin, the passage shaded and
    its highlighted sentence marked. The first shaded block carries id="viewer-target"."""
    text = document.text
    cut_note = ""
    if len(text) > MAX_VIEWER_CHARS:
        text = text[: max(MAX_VIEWER_CHARS, end)]
        cut_note = (
            f'<p class="viewer-cut">… the rest of this {len(document.text):,}-character '
            "document is not shown here.</p>"
        )
    meta = " · ".join(
        f"{escape(k.capitalize())}: {escape(v)}" for k, v in (document.metadata or ()) if v
    )
    title = display_title(document.title, document.path, document.doc_id)
    paragraphs = document.paragraphs or ((0, len(text)),)
    pages = list(document.pages)
    page_starts = [a for a, _ in pages]
    shown_pages: set[int] = set()
    blocks = []
    target_done = False
    for number, (p_start, p_end) in enumerate(paragraphs, 1):
        if p_start >= len(text):
            break
        # the pages this paragraph is on that no earlier paragraph was (pages in text order)
        i = max(0, bisect_right(page_starts, p_start) - 1)
        new_pages = []
        while i < len(pages) and pages[i][0] < p_end:
            if p_start < pages[i][1] and i + 1 not in shown_pages:
                shown_pages.add(i + 1)
                new_pages.append(i + 1)
            i += 1
        page = new_pages[0] if new_pages else 0
        margin = (
            "".join(f'<span class="page" title="Page {n}">p. {n}</span>' for n in new_pages)
            + f'<span class="num" title="Paragraph {number}">¶{number}</span>'
        )
        inside = p_start < end and start < p_end
        target = ""
        if inside and not target_done:
            target, target_done = ' id="viewer-target"', True
        body = _segments(text[p_start:p_end], p_start, start, end, hs, he)
        blocks.append(
            f'<div class="para{" hit" if inside else ""}"{target} data-paragraph="{number}"'
            + (f' data-page="{page}"' if page else "")
            + f'><div class="margin">{margin}</div><div class="ptext">{body}</div></div>'
        )
    where = locator(
        {
            "paragraphs": [i for i, (a, b) in enumerate(paragraphs, 1) if a < end and start < b],
            "pages": [i for i, (a, b) in enumerate(pages, 1) if a < end and start < b],
        }
    )
    return (
        f'<div class="viewer" data-doc="{attr(document.doc_id)}">'
        '<div class="viewer-head">'
        f'<h3 tabindex="-1" class="viewer-title">{escape(title)}</h3>'
        '<button type="button" class="viewer-close" aria-label="Close the source viewer">'
        "Close ✕</button>"
        + (f'<p class="viewer-meta">{meta}</p>' if meta else "")
        + f'<p class="viewer-where">Passage at {escape(where)}, chars {start:,}–{end:,} · '
        f"<code>{escape(document.path)}</code></p></div>"
        f'<div class="doc-body">{"".join(blocks)}{cut_note}</div></div>'
    )
