"""The chat page's Documents panel: upload files into the index, see what is indexed, remove.

Built inside the app's open `gr.Blocks` by `documents_panel(assistant)`. Everything goes through
the Python API (`ingest`, `remove`, `list_documents`); a running chat picks up each new version.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import gradio as gr

from .api import Assistant, IngestReport, ingest, list_documents, remove
from .documents import SUPPORTED, SUPPORTED_SUFFIXES
from .errors import AssistantError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
HEADERS = ["Title", "File", "Chunks", "Indexed"]


def uploads_dir_for(index_dir: Path) -> Path:
    """Where uploaded files are kept: beside the index (`index/default-uploads/`)."""
    return Path(index_dir).parent / f"{Path(index_dir).name}-uploads"


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only ordinary characters."""
    base = os.path.basename(name.replace("\\", "/"))
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-")[:100] or "document"
    return stem + suffix.lower()


def check_upload(name: str, size: int) -> str | None:
    """Why an upload is refused, or None when it is acceptable."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"{name}: not accepted; upload {SUPPORTED} files"
    if size > MAX_UPLOAD_BYTES:
        return (
            f"{name}: {size / 2**20:.1f} MiB is over the {MAX_UPLOAD_BYTES // 2**20} MiB upload "
            "limit; split it, or ingest it from the command line"
        )
    if size == 0:
        return f"{name}: the file is empty"
    return None


def document_rows(index_dir: Path) -> list[list]:
    try:
        docs = list_documents(index_dir)
    except AssistantError:
        return []
    return [
        [d.title, d.shown, d.chunks, d.indexed_at.replace("T", " ")[:16]]
        for d in docs
        if not d.same_as
    ]


def _choices(index_dir: Path) -> list[tuple[str, str]]:
    try:
        docs = list_documents(index_dir)
    except AssistantError:
        return []
    return [(f"{d.title} ({os.path.basename(d.path)})", d.path) for d in docs]


def upload_files(assistant: Assistant, files: list[str] | None, uploads: Path) -> str:
    """Checks, copies and ingests uploaded files; returns the message to show."""
    if not files:
        return "No file was uploaded."
    index_dir = assistant.index.path
    messages, accepted = [], []
    uploads.mkdir(parents=True, exist_ok=True)
    for temp in files:
        temp = str(temp)
        name = safe_name(os.path.basename(temp))
        refused = check_upload(name, os.path.getsize(temp) if os.path.exists(temp) else 0)
        if refused:
            messages.append(f"✗ {refused}")
            continue
        target = uploads / name
        shutil.copyfile(temp, target)
        with contextlib.suppress(OSError):
            os.unlink(temp)  # Gradio's copy in its upload cache is no longer needed
        accepted.append(target)
    if accepted:
        try:
            report = ingest(accepted, index_dir, embedder=assistant.embedder)
        except AssistantError as exc:
            for target in accepted:
                _forget_upload(target, index_dir)
            messages.append(f"✗ {exc}")
        else:
            messages.extend(_report_lines(report))
            for failure in report.failures:
                _forget_upload(Path(failure.path), index_dir, uploads)
            assistant.refresh()
    return "\n".join(messages)


def _forget_upload(path: Path, index_dir: Path, uploads: Path | None = None) -> None:
    """Deletes an uploaded copy that did not make it into the index."""
    path = Path(os.path.abspath(path))
    if uploads is not None and path.parent != Path(os.path.abspath(uploads)):
        return
    indexed = {d.path for d in list_documents(index_dir)} if index_dir.exists() else set()
    if str(path) not in indexed:
        path.unlink(missing_ok=True)


def _report_lines(report: IngestReport) -> list[str]:
    lines = [f"✓ added {p}" for p in report.added]
    lines += [f"✓ updated {p}" for p in report.updated]
    lines += [f"= unchanged {p}" for p in report.unchanged]
    lines += [f"= {d}: identical, indexed once" for d in report.duplicates]
    lines += [f"✗ {f.path}: {f.reason}" for f in report.failures]
    return lines


def remove_document(assistant: Assistant, path: str | None, uploads: Path) -> str:
    if not path:
        return "Choose a document to remove."
    try:
        report = remove([path], assistant.index.path, embedder=assistant.embedder)
    except AssistantError as exc:
        return f"✗ {exc}"
    target = Path(path)
    if target.parent == Path(os.path.abspath(uploads)):
        target.unlink(missing_ok=True)  # an uploaded copy: nothing else refers to it
    assistant.refresh()
    return "\n".join(f"✓ removed {p}" for p in report.removed)


def documents_panel(assistant: Assistant, uploads: Path | None = None) -> None:
    """Adds the Documents section (a closed accordion) to the open gr.Blocks."""
    uploads = uploads or uploads_dir_for(assistant.index.path)

    def refresh():
        index_dir = assistant.index.path
        return document_rows(index_dir), gr.update(choices=_choices(index_dir), value=None)

    def on_upload(files):
        message = upload_files(assistant, files, uploads)
        rows, choices = refresh()
        return message, rows, choices, None

    def on_remove(path):
        message = remove_document(assistant, path, uploads)
        rows, choices = refresh()
        return message, rows, choices

    with gr.Accordion("Documents: add, list, remove", open=False, elem_id="documents-panel"):
        table = gr.Dataframe(
            value=document_rows(assistant.index.path),
            headers=HEADERS,
            datatype=["str", "str", "number", "str"],
            interactive=False,
            elem_id="documents",
            label="Indexed documents",
        )
        upload = gr.File(
            label=f"Add documents ({SUPPORTED}; up to {MAX_UPLOAD_BYTES // 2**20} MiB each)",
            file_count="multiple",
            file_types=list(SUPPORTED_SUFFIXES),
            type="filepath",
            elem_id="upload",
        )
        status = gr.Textbox(label="Status", interactive=False, lines=3, elem_id="documents-status")
        with gr.Row():
            choice = gr.Dropdown(
                choices=_choices(assistant.index.path),
                label="Remove a document",
                elem_id="remove-choice",
                scale=4,
            )
            remove_button = gr.Button("Remove", variant="stop", elem_id="remove", scale=1)
        upload.upload(on_upload, upload, [status, table, choice, upload], api_visibility="private")
        remove_button.click(on_remove, choice, [status, table, choice], api_visibility="private")
        refresh_button = gr.Button("Refresh list", size="sm")
        refresh_button.click(refresh, None, [table, choice], api_visibility="private")
