"""The web chat: a Gradio page over the same Assistant.ask the CLI uses, plus the /ask API."""

from __future__ import annotations

import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .api import Assistant  # noqa: E402
from .app_documents import MAX_UPLOAD_BYTES, documents_panel  # noqa: E402
from .citations import format_citation  # noqa: E402
from .errors import AssistantError  # noqa: E402
from .schema import Answer  # noqa: E402
from .security import check_exposure  # noqa: E402

EXAMPLES = [
    "How many deaths is the PKK responsible for?",
    "Which operations has Ankara launched in northern Syria?",
    "Who condemned the PKK, DHKP-C and Daesh?",
    "What did Türkiye and the U.S. say about Gaza?",
]
NOT_FOUND = (
    '<div class="not-found"><b>Not in the documents.</b> Nothing in the indexed documents '
    "answers this question, so no passage is shown. Try other words.</div>"
)
CSS = """
.passage { border-left: 4px solid #f0b429; margin: 0.4em 0; padding: 0.3em 0.8em; }
.passage mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 2px; }
.citation { font-size: 0.85em; opacity: 0.85; margin: 0 0 0.9em 0; }
.not-found { border-left: 4px solid #9ca3af; padding: 0.3em 0.8em; }
"""


def render_html(answer: Answer) -> str:
    """The answer as one HTML block; every piece of document text is escaped."""
    if not answer.answerable:
        return NOT_FOUND
    parts = []
    for p in answer.passages:
        h = p.highlight
        quote = (
            html.escape(p.text[: h.start])
            + f'<mark class="highlight">{html.escape(h.text)}</mark>'
            + html.escape(p.text[h.end :])
        ).replace("\n", "<br>")
        parts.append(
            f'<div class="answer-passage" data-rank="{p.rank}">'
            f'<blockquote class="passage">{quote}</blockquote>'
            f'<p class="citation">[{p.rank}] {html.escape(format_citation(p.source))}'
            f" · <code>{html.escape(p.source.path)}</code> · score {p.score:.2f}</p></div>"
        )
    return "".join(parts)


def text_of(content) -> str:
    """The text of a chat message, whether Gradio hands it over as a string or as parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, list | tuple):
        return " ".join(text_of(part) for part in content).strip()
    return ""


def build_app(assistant: Assistant) -> gr.Blocks:
    manifest = assistant.index.manifest
    titles = ", ".join(d["title"] for d in manifest["documents"][:5])
    more = len(manifest["documents"]) - 5

    def respond(message: str, history: list, k: float):
        history = list(history or [])
        if not (message or "").strip():
            return "", history
        earlier = [text_of(m["content"]) for m in history if m.get("role") == "user"]
        history.append({"role": "user", "content": message})
        try:
            reply = render_html(assistant.ask(message, k=int(k), context=earlier))
        except AssistantError as exc:
            reply = f'<div class="not-found">{html.escape(str(exc))}</div>'
        history.append({"role": "assistant", "content": reply})
        return "", history

    def ask(
        question: str, k: int = 3, retriever: str = "", context: list[str] | None = None
    ) -> str:
        """Answers `question` with the top `k` cited passages, as the JSON text of the answer
        contract (the same object `assistant ask --json` prints). It is text rather than an
        object because gradio_client would try to download any dict with a "path" key.
        `retriever` is hybrid, dense or bm25 (empty: the index's default); `context` lists the
        conversation's earlier questions, oldest first, for follow-ups."""
        try:
            answer = assistant.ask(
                question, k=int(k), retriever=retriever or None, context=context or ()
            )
            return answer.to_json()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="Citation Assistant") as demo:
        gr.Markdown(
            "## Ask the documents\n"
            f"Answers are quoted passages, each with its source. Indexed: {html.escape(titles)}"
            + (f" and {more} more" if more > 0 else "")
        )
        chatbot = gr.Chatbot(
            label="Answers", height=640, elem_id="chat", sanitize_html=True, feedback_options=None
        )
        with gr.Row():
            question = gr.Textbox(
                placeholder="Ask a question about the documents, then press Enter",
                show_label=False,
                scale=8,
                elem_id="question",
                autofocus=True,
            )
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        k = gr.Slider(1, 10, value=3, step=1, label="Passages per answer")
        gr.Examples(EXAMPLES, inputs=question, label="Examples")
        for event in (question.submit, send.click):
            event(respond, [question, chatbot, k], [question, chatbot], api_visibility="private")
        gr.api(ask, api_name="ask")
        documents_panel(assistant)
    return demo


def _one_thread_per_question() -> None:
    """Questions run in parallel on the queue's workers; torch's own threads on top of that
    oversubscribe the cores (measured on 2 busy cores: 1.2 s per question with 2 torch threads,
    0.17 s with 1)."""
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
    _one_thread_per_question()
    demo = build_app(assistant)
    demo.queue(default_concurrency_limit=concurrency)
    print(f"Serving the chat on http://{host}:{port}", flush=True)
    demo.launch(
        server_name=host,
        server_port=port,
        css=CSS,
        show_error=True,
        footer_links=["api"],
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
    )
