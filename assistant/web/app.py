"""The web chat: a Gradio page over the same Assistant.ask the CLI uses, plus the /ask API.

The conversation is rendered by `chat_html` into one gr.HTML (Gradio's Chatbot strips the
buttons and data attributes citations need). Its small script (CHAT_JS) handles the buttons:
a citation opens the source viewer (server function `open_source`), a thumb records a vote
(`record_vote`, only on a passage shown in that browser session), a copy button copies the
quote with its citation. Settings are ordinary components, so they belong to the browser
session that set them. Everything taken from documents is shown as plain text.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from html import escape
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from .. import feedback  # noqa: E402
from ..answer.assistant import Assistant  # noqa: E402
from ..errors import AssistantError, IndexMissingError, InvalidArgumentError  # noqa: E402
from ..export import conversation_markdown  # noqa: E402
from ..settings import default_index_dir  # noqa: E402
from ..store import folder as store  # noqa: E402
from ..validation import clean_text, validate_context, validate_k, validate_question  # noqa: E402
from .chat_html import VIEWER_EMPTY, conversation_html, viewer_html  # noqa: E402
from .documents_panel import MAX_UPLOAD_BYTES, documents_panel  # noqa: E402
from .security import (
    LoginRateLimit,
    RateLimit,
    ServerFunctionGuard,
    UploadSizeLimit,
    check_exposure,
    session_of,
)

EXAMPLES = [
    "How many deaths is the PKK responsible for?",
    "Which operations has Ankara launched in northern Syria?",
    "Who condemned the PKK, DHKP-C and Daesh?",
    "What did Türkiye and the U.S. say about Gaza?",
]
RETRIEVER_CHOICES = [
    ("Both: meaning + shared words (best)", "hybrid"),
    ("Meaning only", "dense"),
    ("Shared words only (BM25)", "bm25"),
]
VIEWER_PANEL = (
    f'<div id="viewer-panel" role="region" aria-label="Source viewer">{VIEWER_EMPTY}</div>'
)

CSS = """
/* Gradio scopes these rules; a "dark" selector list is mis-scoped, so one rule each. */
#main-row { align-items: flex-start; }
#viewer-col { position: sticky; top: 8px; }
.conversation { display: flex; flex-direction: column; gap: 14px; }
.welcome, .viewer-empty { opacity: 0.8; padding: 10px 12px; border-radius: 8px;
  border: 1px dashed var(--border-color-primary); }
.turn { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  background: var(--background-fill-primary); }
.turn .q { font-weight: 600; margin-bottom: 6px; overflow-wrap: anywhere; }
.turn .q .who { display: inline-block; font-size: 0.75em; font-weight: 600; padding: 1px 6px;
  border-radius: 6px; background: var(--background-fill-secondary); margin-right: 4px; }
.state { margin: 4px 0 8px; padding: 6px 10px; border-radius: 6px; border-left: 4px solid; }
.state-answered { border-color: #16a34a; background: rgba(22, 163, 74, 0.10); }
.state-weak { border-color: #d97706; background: rgba(217, 119, 6, 0.14); }
.state-not_found, .state-error { border-color: #6b7280; background: rgba(107, 114, 128, 0.12); }
.index-warning { margin: 6px 0; padding: 6px 10px; border-radius: 6px; overflow-wrap: anywhere;
  border-left: 4px solid #d97706; background: rgba(217, 119, 6, 0.14); }
#header p { overflow-wrap: anywhere; }
.searched { font-size: 0.85em; opacity: 0.8; margin: 0 0 6px; }
.not-found { display: none; }
ol.passages { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column;
  gap: 12px; }
.answer-passage { margin: 0; }
.passage { border-left: 4px solid #f0b429; margin: 0 0 4px 0; padding: 4px 10px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.turn[data-state="weak"] .passage { border-left-style: dashed; border-left-color: #d97706; }
mark.highlight { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 2px; }
mark.shared { background: transparent; color: inherit; padding: 0; }
.answer-passage:has(details.why[open]) .passage mark.shared, .why mark.shared {
  background: #bfdbfe; color: #1e3a8a; border-bottom: 2px solid #2563eb; border-radius: 2px; }
.citation { font-size: 0.88em; margin: 2px 0; display: flex; flex-wrap: wrap; gap: 4px 8px;
  align-items: baseline; overflow-wrap: anywhere; }
.citation code.path { font-size: 0.92em; overflow-wrap: anywhere; word-break: break-all; }
.citation .chars, .citation .byline { opacity: 0.8; }
button.cite { font: inherit; font-weight: 600; color: var(--link-text-color, #2563eb);
  background: none; border: none; padding: 0; text-decoration: underline; cursor: pointer;
  text-align: left; }
button.cite[aria-current="true"] { background: rgba(37, 99, 235, 0.12); border-radius: 4px; }
.tools { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 4px 0; }
.tools button { font-size: 0.85em; padding: 2px 8px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color); cursor: pointer; min-height: 30px; }
.tools button.vote[aria-pressed="true"] { border-color: #2563eb;
  background: rgba(37, 99, 235, 0.18); }
.tools svg.down { transform: rotate(180deg); }
.tools button.vote { display: inline-flex; align-items: center; }
.tool-status { font-size: 0.85em; opacity: 0.85; }
button:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
details.why, details.answer-json { font-size: 0.88em; margin-top: 4px; }
details summary { cursor: pointer; }
.why-body { padding: 4px 0 2px 12px; }
.score-bar { display: flex; height: 10px; width: 100%; max-width: 360px; border-radius: 5px;
  overflow: hidden; background: var(--background-fill-secondary); margin: 4px 0; }
.bar-meaning, .key-meaning { background: #7c3aed; }
.bar-words, .key-words { background: #2563eb; }
.key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.why-note { opacity: 0.8; }
details.answer-json pre { max-height: 320px; overflow: auto; white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: 0.85em; }
.viewer { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px;
  background: var(--background-fill-primary); }
.viewer-head { display: grid; grid-template-columns: 1fr auto; gap: 2px 8px; align-items: start; }
.viewer-head h3 { margin: 0; font-size: 1.05em; overflow-wrap: anywhere; }
.viewer-head p { grid-column: 1 / -1; margin: 0; font-size: 0.85em; opacity: 0.85;
  overflow-wrap: anywhere; }
.viewer-close { font-size: 0.85em; padding: 2px 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color); }
.doc-body { position: relative; max-height: calc(100vh - 240px); overflow-y: auto; margin-top: 8px;
  padding-right: 4px; }
.para { display: grid; grid-template-columns: 3.2em 1fr; gap: 6px; margin: 0 0 10px; }
.para .margin { text-align: right; font-size: 0.78em; opacity: 0.7; user-select: none;
  display: flex; flex-direction: column; }
.para .page { font-weight: 700; opacity: 1; }
.para .ptext { white-space: pre-wrap; overflow-wrap: anywhere; }
.para.hit .margin { opacity: 1; font-weight: 700; color: #b45309; }
.in-passage { background: rgba(240, 180, 41, 0.22);
  box-shadow: 0 0 0 1px rgba(240, 180, 41, 0.35); }
mark.sentence { background: #fde68a; color: #1f2937; border-bottom: 2px solid #d97706; }
.dark mark.highlight { background: #a16207; color: #fff7ed; }
.dark mark.sentence { background: #a16207; color: #fff7ed; }
.dark .why mark.shared { background: #1e3a8a; color: #dbeafe; border-bottom-color: #93c5fd; }
.dark .answer-passage:has(details.why[open]) .passage mark.shared {
  background: #1e3a8a; color: #dbeafe; border-bottom-color: #93c5fd; }
.dark button.cite { color: #93c5fd; }
.copy-buffer { position: fixed; left: -9999px; top: 0; width: 1px; height: 1px; opacity: 0; }
@media (min-width: 1000px) {
  .conversation { max-height: calc(100vh - 300px); overflow-y: auto; padding-right: 4px; }
}
@media (max-width: 999px) {
  #viewer-col { position: static; }
  .doc-body { max-height: 70vh; }
}
"""

# Runs once when the conversation component loads; `element`, `server` and `watch` come from
# gr.HTML. Event delegation, so the handlers survive every re-render of the conversation.
CHAT_JS = (
    f"const EMPTY_VIEWER = {json.dumps(VIEWER_EMPTY)};\n"
    + r"""
const panel = () => document.getElementById('viewer-panel');
let lastCite = null;

function copyBuffer() {
  let buffer = document.getElementById('copy-buffer');
  if (!buffer) {
    buffer = document.createElement('textarea');
    buffer.id = 'copy-buffer';
    buffer.className = 'copy-buffer';
    buffer.setAttribute('readonly', '');
    buffer.setAttribute('aria-hidden', 'true');
    buffer.tabIndex = -1;
    document.body.appendChild(buffer);
  }
  return buffer;
}

async function copyText(text) {
  const buffer = copyBuffer();
  buffer.value = text;  // also where tests and scripts can read the last copy
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (e) { /* fall back below */ }
  const focused = document.activeElement;
  buffer.select();
  let done = false;
  try { done = document.execCommand('copy'); } catch (e) { done = false; }
  if (focused && focused.focus) focused.focus({preventScroll: true});
  return done;
}

function say(button, message) {
  const item = button.closest('.answer-passage');
  const status = item && item.querySelector('.tool-status');
  if (status) status.textContent = message;
}

function showInViewer(p) {
  const body = p.querySelector('.doc-body');
  const mark = p.querySelector('mark.sentence') || p.querySelector('#viewer-target');
  if (window.innerWidth < 1000) p.scrollIntoView({block: 'start'});
  if (body && mark) {
    const offset = mark.getBoundingClientRect().top - body.getBoundingClientRect().top;
    body.scrollTop += offset - Math.min(80, body.clientHeight / 4);
  }
  const title = p.querySelector('.viewer-title');
  if (title) title.focus({preventScroll: true});
}

async function openSource(button) {
  const p = panel();
  if (!p) return;
  const d = button.dataset;
  document.querySelectorAll('button.cite[aria-current]')
    .forEach(b => b.removeAttribute('aria-current'));
  button.setAttribute('aria-current', 'true');
  lastCite = button;
  p.innerHTML = '<div class="viewer-empty">Opening the source…</div>';
  try {
    p.innerHTML = await server.open_source({index: d.index, doc: d.doc, start: +d.start,
                                            end: +d.end, hs: +d.hs, he: +d.he});
  } catch (e) {
    p.innerHTML = '<div class="viewer-empty">Could not open the source. Ask again and retry.</div>';
    return;
  }
  showInViewer(p);
}

async function vote(button) {
  say(button, 'Saving…');
  try {
    const result = await server.record_vote({token: button.dataset.token,
                                             vote: +button.dataset.vote});
    if (result.ok) {
      button.parentElement.querySelectorAll('button.vote').forEach(
        b => b.setAttribute('aria-pressed', b === button ? 'true' : 'false'));
    }
    say(button, result.message);
  } catch (e) {
    say(button, 'Could not save the vote.');
  }
}

element.addEventListener('click', async (event) => {
  const button = event.target.closest('button');
  if (!button || !element.contains(button)) return;
  if (button.classList.contains('cite')) { event.preventDefault(); await openSource(button); }
  else if (button.classList.contains('copy')) {
    const ok = await copyText(button.dataset.copy);
    say(button, ok ? 'Copied the quote with its citation.' : 'Select the text to copy it.');
  } else if (button.classList.contains('vote')) { await vote(button); }
});

if (!window.__citationViewerKeys) {
  window.__citationViewerKeys = true;
  const close = () => {
    const p = panel();
    if (!p || !p.querySelector('.viewer')) return;
    p.innerHTML = EMPTY_VIEWER;
    if (lastCite && document.contains(lastCite)) lastCite.focus();
  };
  document.addEventListener('click', (event) => {
    if (event.target.closest('.viewer-close')) close();
  });
  document.addEventListener('keydown', (event) => {
    const inViewer = event.target.closest && event.target.closest('#viewer-panel');
    if (event.key === 'Escape' && inViewer) close();
  });
}

watch('value', () => {
  const turns = element.querySelectorAll('.turn');
  const last = turns[turns.length - 1];
  if (!last) return;
  const box = element.querySelector('.conversation');
  const scrolls = box && box.scrollHeight > box.clientHeight + 4;
  if (scrolls) box.scrollTop = last.offsetTop - box.offsetTop;
  else last.scrollIntoView({block: 'nearest'});
});
"""
)

# Downloads the exported Markdown from the page: no file is written on the server.
DOWNLOAD_JS = """(text) => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], {type: 'text/markdown;charset=utf-8'}));
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  link.download = `conversation-${stamp}.md`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}"""
VOTES_PER_SESSION, VOTES_OVERALL = 30, 300  # per minute


def index_folders(served: Path) -> dict[str, Path]:
    """Index folders the settings can choose, by label: the served one first, then every
    folder with a manifest.json beside it and in the project's index/ directory."""
    served = served.resolve()
    found = [served]
    for parent in (served.parent, default_index_dir().parent):
        if parent.is_dir():
            found += sorted(
                p.resolve()
                for p in parent.iterdir()
                if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()
            )
    labels: dict[str, Path] = {}
    for path in found:
        if path in labels.values():
            continue
        label = path.name if path.name not in labels else str(path)
        labels[label] = path
    return labels


class Indexes:
    """The assistants the chat can search, opened on first use and shared by all sessions."""

    def __init__(self, served: Assistant) -> None:
        self.served = served
        self.folders = index_folders(Path(served.index.path))
        self.default = next(iter(self.folders))
        self._open = {self.default: served}
        self._lock = threading.Lock()

    def get(self, label: str | None) -> Assistant:
        label = label or self.default
        if not isinstance(label, str) or label not in self.folders:
            raise InvalidArgumentError(f"Unknown index {label!r}; pick one from the list.")
        with self._lock:
            if label not in self._open:
                self._open[label] = Assistant.open(
                    self.folders[label], embedder=self.served.embedder
                )
            return self._open[label]

    def document_choices(self, label: str | None) -> list[tuple[str, str]]:
        try:
            index = self.get(label).index
        except AssistantError:
            return []
        return [(d["title"], d["doc_id"]) for d in index.manifest["documents"]]


def _int(data: dict, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{key} must be a whole number.")
    return value


def _whole(k) -> int:
    """k as sent by a page or a client: 3.0 is 3; anything else goes to validate_k."""
    return validate_k(int(k) if isinstance(k, float) and k.is_integer() else k)


def _cut(threshold, calibrated: float) -> float | None:
    """The threshold slider's value; None (the index's calibrated cut) when left at it."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidArgumentError(
            f"The threshold must be a number from 0 to 1, not {threshold!r}."
        )
    return None if abs(threshold - calibrated) < 0.005 else float(threshold)


def _documents(documents) -> list[str] | None:
    if documents is None or documents == "":
        return None
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise InvalidArgumentError("documents must be a list of document ids.")
    return documents or None


def missing_notice(assistant: Assistant) -> str:
    """A warning when the folder of the index being served is gone; '' while it is there."""
    path = Path(assistant.index.path)
    if store.version_of(path) is not None:
        return ""
    return (
        f"{IndexMissingError(str(path))} Until then the chat answers from the copy it loaded "
        "earlier, and uploads are refused."
    )


def header_html(assistant: Assistant) -> str:
    """The page's header, as plain text: the titles of the version being served (reloaded
    first when a new one was swapped in), and a warning when its folder is gone."""
    assistant.refresh()
    documents = assistant.index.manifest["documents"]
    titles = ", ".join(d["title"] for d in documents[:5])
    if len(documents) > 5:
        titles += f" and {len(documents) - 5} more"
    notice = missing_notice(assistant)
    return (
        "<h2>Ask the documents</h2><p>Answers are quoted passages, each with its source. "
        f"Indexed: {escape(titles)}</p>"
        + (f'<p class="index-warning" role="alert">⚠ {escape(notice)}</p>' if notice else "")
    )


def build_app(assistant: Assistant) -> gr.Blocks:
    indexes = Indexes(assistant)
    calibrated = assistant.retriever.settings.answerable_at
    lexical_weight = assistant.retriever.settings.lexical_weight
    shown = feedback.ShownPassages()
    vote_limit = RateLimit(VOTES_PER_SESSION, VOTES_OVERALL)

    def open_source(data: dict) -> str:
        """The viewer for one passage: the whole document, the passage shaded."""
        try:
            if not isinstance(data, dict):
                raise InvalidArgumentError("Open a source with its citation button.")
            index = indexes.get(str(data.get("index") or "")).index
            document = index.documents.get(str(data.get("doc")))
            if document is None:
                raise InvalidArgumentError("That document is not in the index any more.")
            start, end = _int(data, "start"), _int(data, "end")
            hs, he = _int(data, "hs"), _int(data, "he")
            if not 0 <= start < end <= len(document.text):
                raise InvalidArgumentError("That passage is outside the document.")
            return viewer_html(document, start, end, hs, he)
        except AssistantError as exc:
            return f'<div class="viewer-empty">{escape(str(exc))}</div>'

    def record_vote(data: dict, request: gr.Request) -> dict:
        """Appends a thumbs up/down on a passage shown in this browser session (named by its
        vote token) to the feedback file beside the index; {"ok", "message"} for the page."""
        try:
            data = data if isinstance(data, dict) else {}
            value = data.get("vote")
            if type(value) is not int or value not in (1, -1):
                raise InvalidArgumentError("vote must be 1 (helpful) or -1 (not helpful).")
            session = session_of(request)
            passage = shown.get(data.get("token"), session)
            if passage is None:
                raise InvalidArgumentError(
                    "That passage was not shown in this browser session (or was shown too long "
                    "ago): ask the question again, then vote."
                )
            if not vote_limit.allow(session):
                raise InvalidArgumentError("Too many votes at once: wait a minute, then vote.")
            chosen = indexes.get(passage.index)
            vote = feedback.make_vote(chosen.index, passage.answer, passage.rank, value)
            feedback.append_vote(chosen.index.path, vote)
        except AssistantError as exc:
            return {"ok": False, "message": str(exc)}
        message = "Thanks: vote saved." if value > 0 else "Thanks: noted as not helpful."
        return {"ok": True, "message": message}

    def respond(
        message, answers, k, retriever, threshold, index_label, documents, request: gr.Request
    ):
        answers = list(answers or [])
        if not isinstance(message, str) or not message.strip():
            return gr.update(), answers, gr.update(), gr.update()
        earlier = [a["question"] for a in answers if not a.get("error")]
        label = index_label or indexes.default
        try:
            chosen = indexes.get(label)
            answer = chosen.ask(
                message,
                k=_whole(k),
                retriever=retriever or None,
                context=earlier,
                answerable_at=_cut(threshold, chosen.retriever.settings.answerable_at),
                documents=_documents(documents),
            ).to_dict()
            answer["settings"]["index"] = label  # which index, as the settings list it
            answer["_votes"] = shown.add(session_of(request) or "", label, answer)
            answer["_notice"] = missing_notice(chosen)
        except AssistantError as exc:
            question = clean_text(message)
            question = question if len(question) <= 500 else question[:500] + "…"
            answer = {"question": question, "error": str(exc)}
        answers.append(answer)
        return "", answers, conversation_html(answers, lexical_weight), header_html(assistant)

    def clear():
        return [], conversation_html([])

    def on_index(label):
        try:
            cut = indexes.get(label).retriever.settings.answerable_at
        except AssistantError:
            return gr.update(choices=[], value=[]), gr.skip()
        info = f"Calibrated for this index: {cut:.2f}. Lower shows passages more often, higher "
        slider = gr.update(value=round(cut, 2), info=info + "refuses more often.")
        return gr.update(choices=indexes.document_choices(label), value=[]), slider

    def ask(
        question: str, k: int = 3, retriever: str = "", context: list[str] | None = None
    ) -> str:
        """Answers `question` with the top `k` cited passages, as the JSON text of the answer
        contract (the same object `assistant ask --json` prints). It is text rather than an
        object because gradio_client would try to download any dict with a "path" key.
        `retriever` is hybrid, dense or bm25 (empty: the index's default); `context` lists the
        conversation's earlier questions, oldest first, for follow-ups."""
        try:
            k = _whole(k)
            question = validate_question(question, k)
            answer = assistant.ask(
                question, k=k, retriever=retriever or None, context=validate_context(context)
            )
            return answer.to_json()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None

    quick = {"api_visibility": "private", "concurrency_limit": None}  # never behind questions
    with gr.Blocks(title="Citation Assistant", delete_cache=(3600, 3600)) as demo:
        answers = gr.State([])
        header = gr.HTML(header_html(assistant), elem_id="header")
        with gr.Row(elem_id="main-row", equal_height=False):
            with gr.Column(scale=3, min_width=300, elem_id="chat-col"):
                conversation = gr.HTML(
                    conversation_html([]),
                    elem_id="conversation",
                    js_on_load=CHAT_JS,
                    server_functions=[open_source, record_vote],
                    apply_default_css=True,
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        placeholder="Ask a question about the documents, then press Enter",
                        show_label=False,
                        scale=8,
                        min_width=180,
                        elem_id="question",
                        autofocus=True,
                        lines=1,
                        max_lines=4,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
                with gr.Row():
                    export = gr.Button(
                        "Export conversation (Markdown)", elem_id="export", size="sm", min_width=120
                    )
                    clear_button = gr.Button(
                        "Clear conversation", elem_id="clear", size="sm", min_width=120
                    )
                with gr.Accordion(
                    "Settings (this browser tab only)", open=False, elem_id="settings"
                ):
                    k = gr.Slider(
                        1, 10, value=3, step=1, label="Passages per answer", elem_id="set-k"
                    )
                    retriever = gr.Radio(
                        RETRIEVER_CHOICES,
                        value=assistant.retriever.settings.mode,
                        label="How to search",
                        elem_id="set-retriever",
                    )
                    threshold = gr.Slider(
                        0.05,
                        0.95,
                        value=round(calibrated, 2),
                        step=0.01,
                        label="Answer only from this confidence on",
                        info=f"Calibrated default {calibrated:.2f}: lower shows passages more "
                        "often, higher refuses more often.",
                        elem_id="set-threshold",
                    )
                    index_choice = gr.Dropdown(
                        list(indexes.folders),
                        value=indexes.default,
                        label="Index to search",
                        elem_id="set-index",
                    )
                    documents = gr.Dropdown(
                        indexes.document_choices(indexes.default),
                        value=[],
                        multiselect=True,
                        label="Only these documents (empty: all)",
                        elem_id="set-documents",
                    )
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
                export_text = gr.Textbox(visible=False, elem_id="export-text")
            with gr.Column(scale=2, min_width=300, elem_id="viewer-col"):
                gr.HTML(VIEWER_PANEL, elem_id="viewer", js_on_load=None)

        inputs = [question, answers, k, retriever, threshold, index_choice, documents]
        outputs = [question, answers, conversation, header]
        for event in (question.submit, send.click):
            event(respond, inputs, outputs, api_visibility="private")
        clear_button.click(
            clear,
            None,
            [answers, conversation],
            api_visibility="private",
            js="() => { const p = document.getElementById('viewer-panel');"
            f" if (p) p.innerHTML = {json.dumps(VIEWER_EMPTY)}; }}",
        )
        export.click(
            lambda answers: conversation_markdown(answers or []), answers, export_text, **quick
        ).then(None, export_text, None, js=DOWNLOAD_JS, **quick)
        index_choice.change(
            on_index, index_choice, [documents, threshold], api_visibility="private"
        )
        gr.api(ask, api_name="ask")
        documents_panel(assistant, also=(header, lambda: header_html(assistant)))
        demo.load(lambda: header_html(assistant), None, header, **quick)
    return demo


def _one_thread_per_question(assistant: Assistant) -> None:
    """Questions run in parallel on the queue's workers; on the torch fallback, torch's own
    threads on top of that oversubscribe the cores (measured on 2 busy cores: 1.2 s per question
    with 2 torch threads, 0.17 s with 1). The ONNX path needs nothing: it never imports torch."""
    if assistant.embedder.backend == "torch":
        import torch

        torch.set_num_threads(1)


def serve(
    assistant: Assistant,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    allow_public: bool = False,
    concurrency: int = 4,
) -> None:
    """Serves the chat. Beyond loopback it refuses to start without `auth` unless
    `allow_public` (see security.py)."""
    check_exposure(host, auth, allow_public)
    check_port(host, port)  # before the slow part
    _one_thread_per_question(assistant)
    demo = build_app(assistant)
    demo.queue(default_concurrency_limit=concurrency)
    print(f"Serving the chat on http://{host}:{port}", flush=True)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            css=CSS,
            show_error=True,
            footer_links=["api"],
            auth=auth,
            max_file_size=MAX_UPLOAD_BYTES,
            app_kwargs={"middleware": middleware()},
        )
    except OSError as exc:
        if "port" not in str(exc):
            raise
        raise AssistantError(port_in_use(port)) from None


def middleware() -> list[Middleware]:
    """Checks made before Gradio sees a request: an upload over the size limit is refused
    before its body is read, failed logins are rate-limited per address, and server-function
    calls are bounded and carry their session (votes need it)."""
    return [
        Middleware(UploadSizeLimit, limit=MAX_UPLOAD_BYTES + 64 * 1024),  # + multipart framing
        Middleware(LoginRateLimit, failures=5, window=60.0),
        Middleware(ServerFunctionGuard),
    ]


def port_in_use(port: int) -> str:
    return (
        f"port {port} is in use; pass --port with a free one (e.g. --port {port + 1}), or stop "
        "the program using it."
    )


def check_port(host: str, port: int) -> None:
    """A clear error when the address cannot be listened on (a port already in use)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        raise AssistantError(
            f"Cannot serve on {host}: the name does not resolve ({exc})."
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AssistantError(port_in_use(port)) from None
            raise AssistantError(f"Cannot serve on {host}:{port}: {exc.strerror}.") from None
