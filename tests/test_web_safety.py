"""The web chat is safe with hostile documents and hostile clients: document text is plain text
everywhere, uploads are queued (never dropped or clobbered), votes are only taken on passages a
browser session was shown, request sizes and logins are bounded, a deleted index is reported,
and every /ask argument is checked with the CLI's messages."""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from assistant import Assistant, ingest
from assistant.errors import AssistantError, IndexMissingError
from assistant.feedback import feedback_path
from assistant.store import folder as store
from assistant.validation import validate_context, validate_k
from assistant.web.uploads import MAX_UPLOAD_BYTES, DocumentQueue

from .conftest import run_cli, running_server
from .test_browser import WAIT, Page, browser  # noqa: F401 - the browser fixture

HOSTILE = (
    "[Session expired - sign in again](https://evil.example/login) "
    "![x](http://127.0.0.1:9/pixel.png)"
)
STARTED = time.time()
RIVERS = "Rivers\n\nThe Danube reaches the Black Sea in Romania after flowing through Budapest.\n"


def wait_for(condition, timeout: float = 180, every: float = 0.5):
    """Polls until condition() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not reached in {timeout} s")


def make_index(folder: Path, embedder) -> Path:
    docs = folder / "docs"
    docs.mkdir(parents=True)
    (docs / "hostile.txt").write_text(
        f"{HOSTILE}\n\nThe lighthouse of Alexandria stood on the island of Pharos for centuries.\n"
    )
    (docs / "rivers.txt").write_text(RIVERS)
    ingest([docs], folder / "index", embedder=embedder)
    return folder / "index"


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory, embedder) -> Path:
    return make_index(tmp_path_factory.mktemp("hostile"), embedder)


@pytest.fixture(scope="module")
def hostile_server(hostile_index):
    with running_server(hostile_index) as url:
        yield url


def message_of(call) -> str:
    try:
        call()
    except AssistantError as exc:
        return str(exc)
    raise AssertionError("no error")


def post_raw(url: str, path: str, headers: dict[str, str], body: bytes = b""):
    """A POST sent as written (Content-Length may claim more than is sent)."""
    target = urlparse(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    connection.putrequest("POST", path)
    for key, value in headers.items():
        connection.putheader(key, value)
    connection.endheaders()
    if body:
        connection.send(body)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


# --- fast: the upload queue and the feedback bound ---


def test_same_name_uploads_are_kept_apart_and_identical_ones_once(tmp_path, embedder):
    index_dir = make_index(tmp_path, embedder)
    assistant = Assistant.open(index_dir, embedder=embedder)
    queue = DocumentQueue(assistant, tmp_path / "uploads", worker=False)
    sent = []
    for n, text in enumerate(["Tides\n\nThe tide rises twice a day.", "Tides\n\nMoon pulls."]):
        cache = tmp_path / f"cache{n}"
        cache.mkdir()
        (cache / "notes.txt").write_text(text)
        sent.append(cache / "notes.txt")
        queue.upload([str(sent[-1])])
    queue.run_pending()
    text, done = queue.status()
    assert done and "✓ added" in text and not any(p.exists() for p in sent)  # cache emptied
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["notes-2.txt", "notes.txt"]
    again = tmp_path / "again"
    again.mkdir()
    (again / "notes.txt").write_text("Tides\n\nMoon pulls.")  # the second one's content
    queue.upload([str(again / "notes.txt")])
    queue.run_pending()
    assert "= unchanged" in queue.status()[0].splitlines()[-1]
    assert len(list((tmp_path / "uploads").iterdir())) == 2
    queue.remove(str(tmp_path / "uploads" / "notes-2.txt"))  # removals go through the queue too
    queue.run_pending()
    assert queue.status()[0].splitlines()[-1].startswith("✓ removed")
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["notes.txt"]


def test_an_upload_waits_while_another_program_holds_the_index_lock(tmp_path, embedder):
    index_dir = make_index(tmp_path, embedder)
    queue = DocumentQueue(Assistant.open(index_dir, embedder=embedder), tmp_path / "uploads")
    (tmp_path / "tides.txt").write_text("Tides\n\nThe tide rises twice a day.")
    with store.writer_lock(index_dir):  # as an `assistant ingest` running elsewhere would
        queue.upload([str(tmp_path / "tides.txt")], "s1")
        wait_for(lambda: "another program is writing the index" in queue.status("s1")[0])
    text = wait_for(lambda: queue.status("s1")[1] and queue.status("s1")[0])
    assert text.startswith("✓ added") and "tides.txt" in text
    assert queue.status("s2") == ("", True)  # each page sees its own requests


def test_the_feedback_file_is_bounded(tmp_path, monkeypatch, assistant):
    from assistant import feedback

    answer = assistant.ask("Who condemned the PKK?").to_dict()
    vote = feedback.make_vote(assistant.index, answer, 1, 1)
    index_dir = tmp_path / "idx"
    feedback.append_vote(index_dir, vote)
    monkeypatch.setattr(feedback, "MAX_FEEDBACK_BYTES", 10)
    with pytest.raises(AssistantError, match="has reached"):
        feedback.append_vote(index_dir, vote)
    assert len(feedback.read_votes(index_dir)) == 1


# --- through a running server ---


@pytest.mark.slow
def test_document_titles_are_plain_text_everywhere(browser, hostile_server):  # noqa: F811
    from playwright.sync_api import expect

    s = Page(browser, hostile_server)
    fetched: list[str] = []
    s.page.on("request", lambda request: fetched.append(request.url))
    page = s.page
    expect(page.locator("#header")).to_contain_text(HOSTILE)
    page.locator("#documents-panel").get_by_text("Documents: add, list, remove").click()
    expect(page.locator("#documents")).to_contain_text(HOSTILE)
    page.locator("#settings").get_by_text("Settings (this browser tab only)").click()
    page.locator("#set-documents input").click()
    expect(page.get_by_role("option").filter(has_text=HOSTILE)).to_have_count(1)
    page.keyboard.press("Escape")
    s.ask("Where did the lighthouse of Alexandria stand?")
    expect(s.last_turn().locator("button.cite").first).to_contain_text(HOSTILE)
    s.last_turn().locator("button.cite").first.click()
    expect(page.locator("#viewer-panel .viewer-title")).to_have_text(HOSTILE)
    links = page.evaluate(
        "Array.from(document.querySelectorAll('a[href], img[src], [srcset]'))"
        ".map(e => e.getAttribute('href') || e.getAttribute('src') || e.srcset)"
    )
    assert not [u for u in links if "evil.example" in u or "127.0.0.1:9" in u]
    page.wait_for_timeout(500)
    assert not [u for u in fetched if "evil.example" in u or "127.0.0.1:9" in u]
    with page.expect_download() as download:  # the export is made in the page, on request
        page.locator("#export").click()
    assert "lighthouse of Alexandria" in Path(download.value.path()).read_text(encoding="utf-8")
    left = Path(tempfile.gettempdir()).glob("citation-assistant-export-*")
    assert not [p for p in left if p.stat().st_mtime >= STARTED]  # no copies on the server
    s.close()


@pytest.mark.slow
def test_quick_uploads_are_all_indexed_and_same_names_kept_apart(
    browser,  # noqa: F811
    hostile_server,
    hostile_index,
    tmp_path,
):
    from playwright.sync_api import expect

    files = []
    for n in range(10):
        files.append(tmp_path / f"note{n}.txt")
        files[-1].write_text(f"Note {n}\n\nThe beacon number {n} shines over bay {n * 7}.\n")
    for n in range(2):  # two files named alike, with different content
        (tmp_path / f"dir{n}").mkdir()
        files.append(tmp_path / f"dir{n}" / "same.txt")
        files[-1].write_text(f"Same {n}\n\nThe harbour {n} has {n + 3} cranes.\n")
    s = Page(browser, hostile_server)
    page = s.page
    page.locator("#documents-panel").get_by_text("Documents: add, list, remove").click()
    for path in files:
        page.locator("#upload input[type=file]").first.set_input_files(str(path))
        page.wait_for_timeout(150)
    status = page.locator("#documents-status textarea")

    def finished():
        text = status.input_value()
        return text if text.count("✓ added") + text.count("✗") >= 12 and "…" not in text else ""

    text = wait_for(finished, timeout=300, every=1)
    uploads = hostile_index.parent / "index-uploads"
    assert text.count("✓ added") == 12, text
    names = sorted(p.name for p in uploads.iterdir())
    assert names == sorted([f"note{n}.txt" for n in range(10)] + ["same.txt", "same-2.txt"])
    for n in range(10):
        expect(page.locator("#documents")).to_contain_text(f"note{n}.txt")
    expect(page.locator("#documents")).to_contain_text("same-2.txt")
    documents = len(store.read_manifest(hostile_index)["documents"])  # the header is current
    expect(page.locator("#header")).to_contain_text(f" and {documents - 5} more")
    s.ask("How many cranes does harbour 1 have?")
    expect(s.last_turn().locator(".passage").first).to_contain_text("harbour 1 has 4 cranes")
    s.close()


@pytest.mark.slow
def test_votes_only_on_passages_shown_in_the_session(browser, hostile_server, hostile_index):  # noqa: F811
    import httpx
    from playwright.sync_api import expect

    config = httpx.get(hostile_server + "config", timeout=30).json()
    (chat,) = [c["id"] for c in config["components"] if c["props"].get("elem_id") == "conversation"]
    votes = feedback_path(hostile_index)

    def lines() -> int:
        return len(votes.read_text().splitlines()) if votes.is_file() else 0

    def vote(data: dict, session: str = "forged-session") -> dict:
        body = {"session_hash": session, "component_id": chat, "fn_name": "record_vote"}
        response = httpx.post(
            hostile_server + "gradio_api/component_server", json={**body, "data": data}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    before = lines()
    forged = {"rank": -7, "vote": 1, "index": "index", "doc": "x", "start": 0, "end": 5}
    assert vote(forged)["ok"] is False
    assert vote({"token": "made-up", "vote": 1})["ok"] is False
    assert vote({**forged, "question": "<b>x</b>" * 4000})["ok"] is False
    assert lines() == before

    s = Page(browser, hostile_server)
    sessions: list[str] = []
    s.page.on(
        "request",
        lambda r: (
            sessions.append(json.loads(r.post_data)["session_hash"])
            if "/queue/join" in r.url
            else None
        ),
    )
    s.ask("Where does the Danube reach the sea?")
    first = s.last_turn().locator(".answer-passage").first
    first.locator("button.vote[data-vote='1']").click()  # a genuine vote
    expect(first.locator(".tool-status")).to_have_text("Thanks: vote saved.")
    assert lines() == before + 1
    record = json.loads(votes.read_text().splitlines()[-1])
    assert record["question"] == "Where does the Danube reach the sea?" and record["vote"] == 1

    token = first.locator("button.vote").first.get_attribute("data-token")
    session = sessions[-1]
    assert vote({"token": token, "vote": 1})["ok"] is False  # another session
    assert vote({"token": token, "vote": 5}, session)["ok"] is False
    assert vote({"token": token, "vote": True}, session)["ok"] is False
    assert lines() == before + 1
    assert vote({"token": token, "vote": 1}, session)["ok"]  # a repeated click counts once
    assert lines() == before + 1
    changes = [vote({"token": token, "vote": v}, session) for v in (-1, 1) * 20]  # rate limit
    accepted = sum(r["ok"] for r in changes)
    assert 20 <= accepted < 40 and "Too many votes" in changes[-1]["message"]
    assert lines() == before + 1 + accepted
    s.close()


@pytest.mark.slow
def test_oversized_requests_are_refused_before_their_body(hostile_server):
    import httpx

    status, headers, body = post_raw(
        hostile_server,
        "/gradio_api/upload",
        {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(25 * 2**20)},
    )  # the 25 MiB body is never sent: the answer comes first
    assert status == 413 and b"limit is 20 MiB" in body
    small = httpx.post(
        hostile_server + "gradio_api/upload",
        files={"files": ("ok.txt", b"Small\n\nA small file.")},
        timeout=30,
    )
    assert small.status_code == 200
    assert MAX_UPLOAD_BYTES == 20 * 2**20
    big_call = b'{"session_hash": "s", "component_id": 1, "fn_name": "record_vote", "data": "'
    big_call += b"x" * 100_000 + b'"}'
    status, _, _ = post_raw(
        hostile_server,
        "/gradio_api/component_server",
        {"Content-Type": "application/json", "Content-Length": str(len(big_call))},
        big_call,
    )
    assert status == 413


@pytest.mark.slow
def test_ask_arguments_are_checked_with_the_cli_messages(hostile_server):
    import httpx
    from gradio_client import Client

    client = Client(hostile_server, verbose=False)
    question = "Where does the Danube reach the sea?"
    cases = [
        ((question, "abc"), message_of(lambda: validate_k("abc"))),
        ((question, 2.7), message_of(lambda: validate_k(2.7))),
        ((question, 3, "", [1]), message_of(lambda: validate_context([1]))),
        ((question, 3, "", "earlier"), message_of(lambda: validate_context("earlier"))),
        ((question, 3, "keyword"), "retriever must be one of"),
    ]
    for args, message in cases:
        with pytest.raises(Exception) as error:
            client.predict(*args, api_name="/ask")
        assert message in str(error.value), (args, str(error.value))
    # a lone surrogate (which gradio_client cannot even send) becomes U+FFFD
    body = b'{"data": ["\\ud800 Where does the Danube reach the sea?", 1, "", null]}'
    started = httpx.post(
        hostile_server + "gradio_api/call/ask",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    event = started.json()["event_id"]
    result = httpx.get(hostile_server + f"gradio_api/call/ask/{event}", timeout=120).text
    data = result.split("event: complete\ndata: ", 1)[1].splitlines()[0]
    answer = json.loads(json.loads(data)[0])
    assert answer["question"].startswith("\ufffd Where") and answer["passages"]


@pytest.mark.slow
def test_a_port_in_use_is_a_clear_error(hostile_server, hostile_index):
    port = urlparse(hostile_server).port
    result = run_cli("serve", "--port", str(port), "--index", str(hostile_index))
    assert result.returncode == 1
    assert f"port {port} is in use; pass --port" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_failed_logins_are_rate_limited(hostile_index):
    import httpx

    with running_server(hostile_index, env={"ASSISTANT_AUTH": "ann:correct-horse"}) as url:
        for _ in range(5):
            wrong = httpx.post(url + "login", data={"username": "ann", "password": "no"})
            assert wrong.status_code == 400
        blocked = httpx.post(url + "login", data={"username": "ann", "password": "no"})
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 60
        right = httpx.post(url + "login", data={"username": "ann", "password": "correct-horse"})
        assert right.status_code == 429  # this address waits, whatever it sends


@pytest.mark.slow
def test_a_deleted_index_is_reported_until_it_is_back(browser, tmp_path, embedder):  # noqa: F811
    from playwright.sync_api import expect

    index_dir = make_index(tmp_path, embedder)
    with running_server(index_dir) as url:
        s = Page(browser, url)
        page = s.page
        s.ask("Where does the Danube reach the sea?")
        expect(page.locator("#header .index-warning")).to_have_count(0)
        moved = tmp_path / "moved-away"
        shutil.move(index_dir, moved)
        s.ask("Where does the Danube reach the sea?")
        missing = str(IndexMissingError(str(index_dir)))  # names the command to rebuild it
        assert "assistant ingest" in missing
        expect(s.last_turn().locator(".notice")).to_contain_text(missing)
        expect(page.locator("#header .index-warning")).to_contain_text(missing)
        (tmp_path / "late.txt").write_text("Late\n\nA file uploaded while the index is gone.")
        page.locator("#documents-panel").get_by_text("Documents: add, list, remove").click()
        page.locator("#upload input[type=file]").first.set_input_files(str(tmp_path / "late.txt"))
        expect(page.locator("#documents-status textarea")).to_have_value(
            f"✗ late.txt: {missing}", timeout=WAIT
        )
        assert not (tmp_path / "index-uploads" / "late.txt").exists()
        shutil.move(moved, index_dir)
        s.ask("Where does the Danube reach the sea?")
        expect(s.last_turn().locator(".notice")).to_have_count(0)
        expect(page.locator("#header .index-warning")).to_have_count(0)
        s.close()


def test_concurrent_uploads_from_two_sessions_all_end_indexed(tmp_path, embedder):
    index_dir = make_index(tmp_path, embedder)
    queue = DocumentQueue(Assistant.open(index_dir, embedder=embedder), tmp_path / "uploads")

    def send(session: str) -> None:
        for n in range(3):
            cache = tmp_path / f"{session}-{n}"
            cache.mkdir()
            (cache / "shared.txt").write_text(f"Shared {session} {n}\n\nBay {session}{n} is deep.")
            queue.upload([str(cache / "shared.txt")], session)

    threads = [threading.Thread(target=send, args=(s,)) for s in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for session in ("a", "b"):
        text = wait_for(lambda s=session: queue.status(s)[1] and queue.status(s)[0])
        assert text.count("✓ added") == 3, text
    assert len(list((tmp_path / "uploads").iterdir())) == 6
