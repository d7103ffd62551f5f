"""The chat's handlers, one method each: answering (`respond`, and `ask` for programs), the
source viewer (`open_source`), votes (`record_vote`), the header, choosing an index. `Chat` holds
what they share: the indexes the page can search, the passages shown per browser session, and
the vote rate limit. The page's layout and wiring are in app.py."""

from __future__ import annotations

import threading
from html import escape
from pathlib import Path

import gradio as gr

from .. import feedback
from ..answer.assistant import Assistant
from ..errors import AssistantError, InvalidArgumentError
from ..settings import default_index_dir
from ..validation import clean_text, validate_k
from .chat_html import conversation_html, turn_html, viewer_html
from .security import RateLimit, session_of

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


def header_html(assistant: Assistant) -> str:
    """The page's header, as plain text: the titles of the version being served (reloaded
    first when a new one was swapped in), and a warning when its folder is gone."""
    assistant.refresh()
    documents = assistant.index.manifest["documents"]
    titles = ", ".join(d["title"] for d in documents[:5])
    if len(documents) > 5:
        titles += f" and {len(documents) - 5} more"
    notice = assistant.problem
    return (
        "<h2>Ask the documents</h2><p>Answers are quoted passages, each with its source. "
        f"Indexed: {escape(titles)}</p>"
        + (f'<p class="index-warning" role="alert">⚠ {escape(notice)}</p>' if notice else "")
    )


class Chat:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.indexes = Indexes(assistant)
        self.calibrated = assistant.retriever.settings.answerable_at
        self.lexical_weight = assistant.retriever.settings.lexical_weight
        self.shown = feedback.ShownPassages()
        self.vote_limit = RateLimit(VOTES_PER_SESSION, VOTES_OVERALL)

    def header(self) -> str:
        return header_html(self.assistant)

    def open_source(self, data: dict) -> str:
        """The viewer for one passage: the whole document, the passage shaded."""
        try:
            if not isinstance(data, dict):
                raise InvalidArgumentError("Open a source with its citation button.")
            index = self.indexes.get(str(data.get("index") or "")).index
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

    def record_vote(self, data: dict, request: gr.Request) -> dict:
        """Appends a thumbs up/down on a passage shown in this browser session (named by its
        vote token) to the feedback file beside the index; {"ok", "message"} for the page."""
        try:
            data = data if isinstance(data, dict) else {}
            value = data.get("vote")
            if type(value) is not int or value not in (1, -1):
                raise InvalidArgumentError("vote must be 1 (helpful) or -1 (not helpful).")
            session = session_of(request)
            passage = self.shown.get(data.get("token"), session)
            if passage is None:
                raise InvalidArgumentError(
                    "That passage was not shown in this browser session (or was shown too long "
                    "ago): ask the question again, then vote."
                )
            if not self.vote_limit.allow(session):
                raise InvalidArgumentError("Too many votes at once: wait a minute, then vote.")
            if self.shown.first_vote(data["token"], value):
                chosen = self.indexes.get(passage.index)
                vote = feedback.make_vote(chosen.index, passage.answer, passage.rank, value)
                feedback.append_vote(chosen.index.path, vote)
        except AssistantError as exc:
            return {"ok": False, "message": str(exc)}
        message = "Thanks: vote saved." if value > 0 else "Thanks: noted as not helpful."
        return {"ok": True, "message": message}

    def respond(
        self, message, answers, k, retriever, threshold, index_label, documents, request: gr.Request
    ):
        """A question typed in the chat: the answer appended to the conversation."""
        answers = list(answers or [])
        if not isinstance(message, str) or not message.strip():
            return gr.update(), answers, gr.update(), gr.update()
        earlier = [a["question"] for a in answers if not a.get("error")]
        label = index_label or self.indexes.default
        try:
            chosen = self.indexes.get(label)
            answer = chosen.ask(
                message,
                k=_whole(k),
                retriever=retriever or None,
                context=earlier,
                answerable_at=_cut(threshold, chosen.retriever.settings.answerable_at),
                documents=_documents(documents),
            ).to_dict()
            answer["settings"]["index"] = label  # which index, as the settings list it
            answer["_votes"] = self.shown.add(session_of(request) or "", label, answer)
            answer["_notice"] = chosen.problem
        except AssistantError as exc:
            question = clean_text(message)
            question = question if len(question) <= 500 else question[:500] + "…"
            answer = {"question": question, "error": str(exc)}
        answers.append(answer)
        return "", answers, self._conversation(answers), self.header()

    def _conversation(self, answers: list[dict]) -> str:
        """The conversation's HTML; each turn is rendered once and kept with its answer
        (`_html`), so a long conversation costs no more per question than a short one."""
        for number, answer in enumerate(answers, 1):
            if answer.get("_html", (0,))[0] != number:
                answer["_html"] = (number, turn_html(number, answer, self.lexical_weight))
        return f'<div class="conversation">{"".join(a["_html"][1] for a in answers)}</div>'

    def clear(self):
        return [], conversation_html([])

    def on_index(self, label):
        """Another index chosen: its documents to choose from, and its calibrated cut."""
        try:
            cut = self.indexes.get(label).retriever.settings.answerable_at
        except AssistantError:
            return gr.update(choices=[], value=[]), gr.skip()
        info = f"Calibrated for this index: {cut:.2f}. Lower shows passages more often, higher "
        slider = gr.update(value=round(cut, 2), info=info + "refuses more often.")
        return gr.update(choices=self.indexes.document_choices(label), value=[]), slider

    def ask(
        self, question: str, k: int = 3, retriever: str = "", context: list[str] | None = None
    ) -> str:
        """Answers `question` with the top `k` cited passages, as the JSON text of the answer
        contract (the same object `assistant ask --json` prints). It is text rather than an
        object because gradio_client would try to download any dict with a "path" key.
        `retriever` is hybrid, dense or bm25 (empty: the index's default); `context` lists the
        conversation's earlier questions, oldest first, for follow-ups."""
        try:
            answer = self.assistant.ask(  # it checks the question and context itself
                question, k=_whole(k), retriever=retriever or None, context=context
            )
            return answer.to_json()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None
