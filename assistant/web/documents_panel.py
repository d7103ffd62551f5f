"""The chat page's Documents panel: what is indexed, uploads and removals (carried out by the
queue in uploads.py), and the status of this page's requests, polled while any is in progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from ..answer.assistant import Assistant
from ..errors import AssistantError
from ..indexing.files import SUPPORTED, SUPPORTED_SUFFIXES
from ..indexing.sync import list_documents
from .security import session_of
from .uploads import MAX_UPLOAD_BYTES, DocumentQueue, uploads_dir_for

POLL_S = 1.0  # how often a page with requests in progress asks for their status
HEADERS = ["Title", "File", "Chunks", "Indexed"]


def listing(index_dir: Path) -> tuple[list[list], list[tuple[str, str]]]:
    """The indexed files as table rows and as choices to remove, from one read of the
    manifest; empty when there is no index."""
    try:
        docs = list_documents(index_dir)
    except AssistantError:
        return [], []
    rows = [
        [d.title, d.shown, d.chunks, d.indexed_at.replace("T", " ")[:16]]
        for d in docs
        if not d.same_as
    ]
    return rows, [(f"{d.title} ({os.path.basename(d.path)})", d.path) for d in docs]


def document_rows(index_dir: Path) -> list[list]:
    return listing(index_dir)[0]


def documents_panel(
    assistant: Assistant,
    uploads: Path | None = None,
    also: tuple[gr.components.Component, Callable] | None = None,
) -> DocumentQueue:
    """Adds the Documents section (a closed accordion) to the open gr.Blocks. `also`: a
    component and the function giving its new value, updated whenever the documents change
    (the page header)."""
    uploads = uploads or uploads_dir_for(assistant.index.path)
    queue = DocumentQueue(assistant, uploads)
    rows, choices = listing(assistant.index.path)
    extra = [also[0]] if also else []

    def refresh():
        assistant.refresh()
        rows, choices = listing(assistant.index.path)
        return rows, gr.update(choices=choices, value=None), *([also[1]()] if also else [])

    def on_upload(files, request: gr.Request):
        session = session_of(request) or ""
        queue.upload(files, session)
        return queue.status(session)[0], gr.Timer(active=True)

    def on_remove(path, request: gr.Request):
        session = session_of(request) or ""
        queue.remove(path, session)
        return queue.status(session)[0], gr.Timer(active=True)

    def on_tick(request: gr.Request):
        text, done = queue.status(session_of(request) or "")
        if not done:
            return text, gr.skip(), gr.skip(), *([gr.skip()] * len(extra)), gr.skip()
        return text, *refresh(), gr.Timer(active=False)

    with gr.Accordion("Documents: add, list, remove", open=False, elem_id="documents-panel"):
        table = gr.Dataframe(
            value=rows,
            headers=HEADERS,
            datatype=["str", "str", "number", "str"],
            interactive=False,
            elem_id="documents",
            label="Indexed documents",
        )
        upload = gr.File(
            label=f"Add documents ({SUPPORTED}; up to {MAX_UPLOAD_BYTES // 2**20} MiB per upload)",
            file_count="multiple",
            file_types=list(SUPPORTED_SUFFIXES),
            type="filepath",
            elem_id="upload",
        )
        status = gr.Textbox(label="Status", interactive=False, lines=3, elem_id="documents-status")
        with gr.Row():
            choice = gr.Dropdown(
                choices=choices,
                label="Remove a document",
                elem_id="remove-choice",
                scale=4,
            )
            remove_button = gr.Button("Remove", variant="stop", elem_id="remove", scale=1)
        refresh_button = gr.Button("Refresh list", size="sm")
    timer = gr.Timer(POLL_S, active=False)  # polls while this page has requests in progress
    quick = {"api_visibility": "private", "concurrency_limit": None}  # never behind questions
    # "multiple": the default ("once") drops an upload made while the previous one is handled.
    # The file list is not cleared by the handler: that too would drop an upload in progress.
    upload.upload(on_upload, upload, [status, timer], trigger_mode="multiple", **quick)
    remove_button.click(on_remove, choice, [status, timer], **quick)
    timer.tick(on_tick, None, [status, table, choice, *extra, timer], **quick)
    refresh_button.click(refresh, None, [table, choice, *extra], **quick)
    return queue
