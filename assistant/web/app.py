"""The web chat: a Gradio page over the same Assistant.ask the CLI uses, plus the /ask API.

The conversation is rendered by `chat_html` into one gr.HTML (Gradio's Chatbot strips the
buttons and data attributes citations need). Its small script (CHAT_JS) handles the buttons:
a citation opens the source viewer (server function `open_source`), a thumb records a vote
(`record_vote`, only on a passage shown in that browser session), a copy button copies the
quote with its citation. Settings are ordinary components, so they belong to the browser
session that set them. Everything taken from documents is shown as plain text.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import settings

settings.set_offline()  # before gradio is imported

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from ..answer.assistant import Assistant  # noqa: E402
from ..errors import AssistantError, InvalidArgumentError  # noqa: E402
from ..export import conversation_markdown  # noqa: E402
from .api import programs_app  # noqa: E402
from .chat import Chat  # noqa: E402
from .chat_html import VIEWER_EMPTY, conversation_html  # noqa: E402
from .documents_panel import documents_panel  # noqa: E402
from .security import (  # noqa: E402
    ApiAuth,
    LoginRateLimit,
    ServerFunctionGuard,
    UploadSizeLimit,
    check_exposure,
    check_port,
    port_in_use,
)
from .uploads import MAX_UPLOAD_BYTES  # noqa: E402

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

STATIC = Path(__file__).resolve().parent / "static"
CSS = (STATIC / "chat.css").read_text(encoding="utf-8")
CHAT_JS = f"const EMPTY_VIEWER = {json.dumps(VIEWER_EMPTY)};\n" + (STATIC / "chat.js").read_text(
    encoding="utf-8"
)
DOWNLOAD_JS = (STATIC / "download.js").read_text(encoding="utf-8")  # the export, made in the page


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat page: the conversation, the source viewer, settings and the Documents panel,
    wired to the handlers of `Chat` (web/chat.py)."""
    chat = Chat(assistant)
    indexes, calibrated = chat.indexes, chat.calibrated

    # the page's script calls these by name (gr.HTML server functions must be plain functions)
    def open_source(data: dict) -> str:
        return chat.open_source(data)

    def record_vote(data: dict, request: gr.Request) -> dict:
        return chat.record_vote(data, request)

    quick = {"api_visibility": "private", "concurrency_limit": None}  # never behind questions
    with gr.Blocks(title="Citation Assistant", delete_cache=(3600, 3600)) as demo:
        answers = gr.State([])
        header = gr.HTML(chat.header(), elem_id="header")
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
            event(chat.respond, inputs, outputs, api_visibility="private")
        clear_button.click(
            chat.clear,
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
            chat.on_index, index_choice, [documents, threshold], api_visibility="private"
        )
        gr.api(chat.ask, api_name="ask")
        documents_panel(assistant, also=(header, chat.header))
        demo.load(chat.header, None, header, **quick)
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
    mcp: bool = True,
    workers: int = 1,
) -> None:
    """Serves the chat at /, the JSON API at /api and (with `mcp`) the MCP server at /mcp, in
    one process; `workers` > 1: /api and /mcp only, in that many (workers.py). Beyond loopback
    it refuses to start without `auth` unless `allow_public` (see security.py)."""
    import uvicorn

    check_exposure(host, auth, allow_public)
    check_port(host, port)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgumentError(f"--workers must be a whole number of 1 or more, not {workers}.")
    if workers > 1:
        from .workers import serve_workers

        return serve_workers(Path(assistant.index.path), host, port, auth, mcp, workers)
    app = make_app(assistant, host, auth, concurrency, mcp)
    print(f"Serving the chat on http://{host}:{port}", flush=True)
    print(f"JSON API on http://{host}:{port}/api (docs: /api/docs)", flush=True)
    if mcp:
        print(f"MCP server on http://{host}:{port}/mcp", flush=True)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,  # open event streams would hold a stop forever
        )
    except OSError as exc:
        if "port" not in str(exc):
            raise
        raise AssistantError(port_in_use(port)) from None


def _lighter_queue(demo: gr.Blocks) -> None:
    """After every event Gradio's queue summarises the last 10,000 events in a pandas
    DataFrame (for its monitoring page, which this app does not show): measured at 16 ms per
    event after 100 events, 50 ms after 10,000, more than the answer itself. Summarise the last
    1,000 every 100 events instead. Private attributes: skipped if Gradio renames them."""
    queue = getattr(demo, "_queue", None)
    if hasattr(queue, "ANALYTICS_MAX_EVENTS") and hasattr(queue, "ANAYLTICS_CACHE_FREQUENCY"):
        queue.ANALYTICS_MAX_EVENTS = 1_000
        queue.ANAYLTICS_CACHE_FREQUENCY = 100


def make_app(
    assistant: Assistant,
    host: str = "127.0.0.1",
    auth: tuple[str, str] | None = None,
    concurrency: int = 4,
    mcp: bool = True,
) -> FastAPI:
    """One FastAPI app: /api (api.py), /mcp (mcp_server.py) and the chat mounted at /."""
    _one_thread_per_question(assistant)
    app = programs_app(assistant, host, mcp, middleware(auth), login=auth is not None)
    demo = build_app(assistant)
    demo.queue(default_concurrency_limit=concurrency)
    _lighter_queue(demo)
    return gr.mount_gradio_app(
        app,
        demo,
        path="/",
        css=CSS,
        show_error=True,
        footer_links=["api"],
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
    )


def middleware(auth: tuple[str, str] | None = None) -> list[Middleware]:
    """Checks made before Gradio or the API sees a request: the API's and MCP's login, an
    upload over the size limit is refused before its body is read, failed logins are
    rate-limited per address, and server-function calls are bounded and carry their session
    (votes need it). The first is the outermost."""
    return [
        Middleware(ApiAuth, auth=auth),
        Middleware(UploadSizeLimit, limit=MAX_UPLOAD_BYTES + 64 * 1024),  # + multipart framing
        Middleware(LoginRateLimit, failures=5, window=60.0),
        Middleware(ServerFunctionGuard),
    ]
