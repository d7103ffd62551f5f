"""The Documents panel's logic: upload checks, copies into the uploads folder, list, remove."""

import os

from assistant import Assistant, ingest
from assistant.indexing.sync import list_documents
from assistant.web.documents_panel import document_rows
from assistant.web.uploads import (
    MAX_UPLOAD_BYTES,
    check_upload,
    remove_document,
    safe_name,
    upload_files,
)


def test_upload_names_and_types_are_checked():
    assert safe_name("../../etc/passwd.TXT") == "passwd.txt"
    assert safe_name("..\\..\\evil <img src=x>.md") == "evil-img-src-x.md"
    assert safe_name(".hidden.pdf") == "hidden.pdf"
    assert "not accepted" in check_upload("run.exe", 10)
    assert "not accepted" in check_upload("page.svg", 10)
    assert "upload limit" in check_upload("big.pdf", MAX_UPLOAD_BYTES + 1)
    assert "empty" in check_upload("blank.txt", 0)
    assert check_upload("notes.md", 100) is None


def test_upload_list_and_remove_through_the_api(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rivers.txt").write_text("Rivers\n\nThe Danube reaches the Black Sea in Romania.")
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=embedder)
    assistant = Assistant.open(index_dir, embedder=embedder)
    incoming = tmp_path / "gradio-cache"
    incoming.mkdir()
    good = incoming / "moon notes.txt"
    good.write_text("Moon notes\n\nApollo 11 landed on the Moon in July 1969.")
    bad = incoming / "tool.exe"
    bad.write_bytes(b"MZ")
    empty = incoming / "blank.md"
    empty.write_text("   ")
    uploads = tmp_path / "uploads"
    message = upload_files(assistant, [str(good), str(bad), str(empty)], uploads)
    assert "✓ added" in message and "moon-notes.txt" in message
    assert "tool.exe: not accepted" in message
    assert "blank.md" in message and "empty" in message
    assert sorted(os.listdir(uploads)) == ["moon-notes.txt"]  # the failed one is not kept
    assert assistant.ask("When did Apollo 11 land?", k=1).passages[0].text.endswith("July 1969.")
    assert [row[0] for row in document_rows(index_dir)] == ["Rivers", "Moon notes"]

    uploaded = str(uploads / "moon-notes.txt")
    assert "✓ removed" in remove_document(assistant, uploaded, uploads)
    assert not os.path.exists(uploaded)
    assert [d.title for d in list_documents(index_dir)] == ["Rivers"]
    assert not assistant.ask("When did Apollo 11 land on the Moon?").answerable
    assert "Choose a document" in remove_document(assistant, None, uploads)
