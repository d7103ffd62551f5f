"""The JSON API (/api): the CLI's bytes and messages, every bad input a clear 4xx, 503 while
the index is gone, the chat's login. In process with the fake embedder (fast), then against a
real `assistant serve` with httpx (slow)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant import Assistant
from assistant.errors import EmptyQuestionError, InvalidArgumentError, QuestionTooLongError
from assistant.validation import MAX_QUESTION_CHARS, validate_k
from assistant.web.api import api_app
from tests.conftest import run_cli, running_server

QUESTION = "Who condemned the PKK, DHKP-C and Daesh?"
FAKE = {"ASSISTANT_EMBEDDER": "fake"}


def k_message(k) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        validate_k(k)
    return str(caught.value)


@pytest.fixture(scope="module")
def api_index(small_index, tmp_path_factory):
    """A copy of the small index that the tests may move away and back."""
    index = tmp_path_factory.mktemp("api") / "index"
    shutil.copytree(small_index, index)
    return index


@pytest.fixture(scope="module")
def client(api_index, fake_embedder):
    return TestClient(api_app(Assistant.open(api_index, embedder=fake_embedder)))


def ask(client, body, **kwargs):
    return client.post(
        "/ask",
        content=body if isinstance(body, bytes) else json.dumps(body),
        headers={"content-type": "application/json", **kwargs.pop("headers", {})},
        **kwargs,
    )


def test_ask_gives_the_answer_json_with_a_newline(client, api_index, fake_embedder):
    response = ask(client, {"question": QUESTION, "k": 2})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = Assistant.open(api_index, embedder=fake_embedder).ask(QUESTION, k=2)
    assert response.text == expected.to_json() + "\n"


def test_every_field_is_used(client, api_index, fake_embedder):
    doc = json.loads(client.get("/documents").text)[0]["doc_ids"][0]
    body = {"question": "When?", "k": 4, "retriever": "bm25", "history": [QUESTION]}
    answer = json.loads(ask(client, {**body, "documents": [doc]}).text)
    assert answer["settings"]["k"] == 4 and answer["retriever"] == "bm25"
    assert answer["settings"]["documents"] == [doc]
    assert QUESTION in answer["searched"]  # the follow-up was searched with its history


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"question": "Who?"', 400, "not valid JSON"),
        (b'{"question": "a\x01b"}', 400, "not valid JSON"),  # raw control character
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b"{}", 400, "'question' is missing"),
        (b'{"question": "Who?", "kk": 3}', 400, "Unknown field 'kk'"),
        (b'{"question": ""}', 400, str(EmptyQuestionError())),
        (b'{"question": "\\u0000\\u001b "}', 400, str(EmptyQuestionError())),
        (b'{"question": 42}', 400, "must be text"),
        (b'{"question": "Who?", "k": 0}', 400, k_message(0)),
        (b'{"question": "Who?", "k": -1}', 400, k_message(-1)),
        (b'{"question": "Who?", "k": 1e9}', 400, k_message(10**9)),  # 1e9 is 10**9
        (b'{"question": "Who?", "k": "abc"}', 400, k_message("abc")),
        (b'{"question": "Who?", "k": true}', 400, k_message(True)),
        (b'{"question": "Who?", "retriever": "magic"}', 400, "retriever must be one of"),
        (b'{"question": "Who?", "history": "earlier"}', 400, "history must be a list"),
        (b'{"question": "Who?", "documents": ["nope"]}', 400, "No document 'nope'"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, body, status, says):
    response = ask(client, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert says in response.json()["error"]


def test_a_long_question_gets_the_cli_message(client):
    question = "why " * 250_000  # a 1 MB question
    response = ask(client, {"question": question})
    assert response.status_code == 400
    too_long = QuestionTooLongError(len(question.strip()), MAX_QUESTION_CHARS)
    assert response.json()["error"] == str(too_long)


def test_size_and_type_are_checked_before_json(client):
    big = ask(client, b'{"question": "' + b"a" * 10_000_000 + b'"}')
    assert big.status_code == 413 and "assistant ingest" in big.json()["error"]
    typed = client.post(
        "/ask", content=json.dumps({"question": QUESTION}), headers={"content-type": "text/plain"}
    )
    assert typed.status_code == 415 and "application/json" in typed.json()["error"]
    form = client.post("/ask", data={"question": QUESTION})
    assert form.status_code == 415


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    wrong = client.get("/ask")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_health_and_documents(client, api_index):
    health = client.get("/health").json()
    manifest = json.loads((api_index / "manifest.json").read_text())
    assert health == {
        "status": "ok",
        "index": str(api_index),
        "version": manifest["created_at"],
        "documents": manifest["counts"]["documents"],
        "chunks": manifest["counts"]["chunks"],
    }
    listed = client.get("/documents").json()
    assert [d["title"] for d in listed] == [s["title"] for s in manifest["sources"]]


def test_missing_index_is_503_naming_the_command_then_recovers(client, api_index):
    aside = api_index.with_name("aside")
    api_index.rename(aside)
    try:
        for response in (
            ask(client, {"question": QUESTION}),
            client.get("/health"),
            client.get("/documents"),
        ):
            assert response.status_code == 503
            assert f"assistant ingest PATH... --index {api_index}" in response.json()["error"]
    finally:
        aside.rename(api_index)
    assert ask(client, {"question": QUESTION}).status_code == 200
    assert client.get("/health").json()["status"] == "ok"


def test_openapi_describes_the_request(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/ask"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["question"]
    assert "text/html" in client.get("/docs").headers["content-type"]


# --- a real server ---


@pytest.mark.slow
def test_real_server_gives_the_cli_bytes(api_index):
    questions = [(QUESTION, []), ("How many deaths is the PKK responsible for?", ["-k", "5"])]
    with running_server(api_index, env=FAKE) as url:
        for question, extra in questions:
            cli = run_cli(
                "ask",
                question,
                "--json",
                "--index",
                str(api_index),
                *extra,
                env={**__import__("os").environ, **FAKE},
            )
            assert cli.returncode == 0, cli.stderr
            k = int(extra[1]) if extra else 3
            api = httpx.post(url + "api/ask", json={"question": question, "k": k}, timeout=60)
            assert api.status_code == 200
            assert api.content == cli.stdout.encode("utf-8")
        # bad input leaves the server serving; the chat is still at /
        assert (
            httpx.post(
                url + "api/ask",
                content=b"{",
                timeout=30,
                headers={"content-type": "application/json"},
            ).status_code
            == 400
        )
        assert httpx.get(url + "api/health", timeout=30).json()["status"] == "ok"
        assert httpx.get(url, timeout=30).status_code == 200


@pytest.mark.slow
def test_real_server_needs_the_chat_login(api_index):
    with running_server(api_index, env={**FAKE, "ASSISTANT_AUTH": "ada:secret"}) as url:
        body = {"question": QUESTION}
        missing = httpx.post(url + "api/ask", json=body, timeout=30)
        assert missing.status_code == 401 and "curl -u" in missing.json()["error"]
        assert missing.headers["www-authenticate"].startswith("Basic")
        assert httpx.post(url + "mcp", json={}, timeout=30).status_code == 401
        good = httpx.post(url + "api/ask", json=body, auth=("ada", "secret"), timeout=30)
        assert good.status_code == 200
        statuses = [
            httpx.post(url + "api/ask", json=body, auth=("ada", "guess"), timeout=30).status_code
            for _ in range(6)
        ]
        assert statuses[:5] == [401] * 5 and statuses[5] == 429  # then even the right login
        late = httpx.post(url + "api/ask", json=body, auth=("ada", "secret"), timeout=30)
        assert late.status_code == 429


def test_a_loopback_server_without_login_answers_only_loopback_names(api_index, fake_embedder):
    """DNS rebinding: a page on another domain rebound to 127.0.0.1 cannot read /api."""
    from assistant.web.api import programs_app

    assistant = Assistant.open(api_index, embedder=fake_embedder)
    local = TestClient(programs_app(assistant, "127.0.0.1", False, [], login=False))
    for host in ("127.0.0.1:7860", "localhost:7860", "[::1]:7860", "localhost"):
        assert local.get("/api/health", headers={"host": host}).status_code == 200, host
    refused = local.get("/api/health", headers={"host": "evil.example:7860"})
    assert refused.status_code == 403 and "loopback" in refused.json()["error"]
    with_login = TestClient(programs_app(assistant, "127.0.0.1", False, [], login=True))
    assert with_login.get("/api/health", headers={"host": "evil.example"}).status_code == 200


def test_logins_that_succeed_keep_no_record_per_address():
    import asyncio

    from assistant.web.security import ApiAuth

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    auth = ApiAuth(app, ("user", "secret"))
    good = [(b"authorization", b"Basic " + __import__("base64").b64encode(b"user:secret"))]
    sent = []

    async def send(message):
        sent.append(message)

    async def calls():
        for n in range(200):
            scope = {"type": "http", "path": "/api/health", "headers": good}
            await auth({**scope, "client": (f"10.0.{n // 250}.{n % 250}", 1)}, None, send)
        bad = {"type": "http", "path": "/api/ask", "headers": [], "client": ("10.9.9.9", 1)}
        await auth(bad, None, send)
        wrong = [(b"authorization", b"Basic " + __import__("base64").b64encode(b"user:guess"))]
        await auth({**bad, "headers": wrong, "client": ("10.9.9.8", 1)}, None, send)

    asyncio.run(calls())
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [200] * 200 + [401, 401]
    assert list(auth.failed.failed) == ["10.9.9.8"]  # only the wrong password is counted
