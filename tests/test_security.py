"""Safe to expose: loopback by default, a login before binding elsewhere, no file served that the
app does not mean to serve."""

import os
import urllib.error
import urllib.request

import pytest

from assistant.errors import InvalidArgumentError
from assistant.web.security import check_exposure, is_loopback, parse_auth

from .conftest import ROOT, run_cli, running_server


def test_loopback_is_recognised():
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.org"]))


def test_public_address_needs_auth_unless_told_explicitly():
    with pytest.raises(InvalidArgumentError, match="--auth USER:PASSWORD"):
        check_exposure("0.0.0.0", None, allow_public=False)
    check_exposure("0.0.0.0", ("u", "p"), allow_public=False)
    check_exposure("0.0.0.0", None, allow_public=True)
    check_exposure("127.0.0.1", None, allow_public=False)
    assert parse_auth("ann:s3cr:et") == ("ann", "s3cr:et")
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(InvalidArgumentError, match="USER:PASSWORD"):
            parse_auth(bad)


@pytest.mark.slow
def test_cli_refuses_a_public_bind_without_auth(tmp_path):
    env_free = {k: v for k, v in os.environ.items() if k != "ASSISTANT_AUTH"}
    result = run_cli("serve", "--host", "0.0.0.0", "--index", str(tmp_path / "none"), env=env_free)
    assert result.returncode == 1
    assert "Refusing to serve on 0.0.0.0 without authentication" in result.stderr
    assert "--allow-public-without-auth" in result.stderr
    malformed = run_cli(
        "serve", "--host", "0.0.0.0", "--index", str(tmp_path / "none"),
        env={**env_free, "ASSISTANT_AUTH": "no-colon"},
    )  # fmt: skip
    assert malformed.returncode == 1 and "USER:PASSWORD" in malformed.stderr


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


TRAVERSALS = [
    "gradio_api/file=/etc/passwd",
    "file=/etc/passwd",
    "gradio_api/file=../../pyproject.toml",
    "gradio_api/file=..%2F..%2Fpyproject.toml",
    "gradio_api/file=%2Fetc%2Fpasswd",
    "gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
    "gradio_api/file=" + str(ROOT / "pyproject.toml"),
    "gradio_api/file=" + str(ROOT / "assistant" / "corpus"),
    "static/../../../../etc/passwd",
    "assets/..%2f..%2f..%2f..%2fetc/passwd",
    "gradio_api/upload/../../../etc/passwd",
    "gradio_api/file=/proc/self/environ",
]


@pytest.mark.slow
@pytest.mark.parametrize("path", TRAVERSALS)
def test_file_routes_serve_nothing_outside_the_app(server, article_index, path):
    secrets = [b"root:x:0:0", b"[build-system]", b"HF_HUB_OFFLINE"]
    secrets.append((article_index / "manifest.json").read_bytes()[:40])
    # urllib would normalise "..": send the path exactly as written
    import http.client
    from urllib.parse import urlparse

    target = urlparse(server)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    connection.request("GET", "/" + path)
    response = connection.getresponse()
    body = response.read()
    assert response.status in (400, 401, 403, 404, 405), (path, response.status, body[:200])
    assert not any(secret in body for secret in secrets), path
    index_file = f"gradio_api/file={article_index / 'manifest.json'}"
    status, body = fetch(server + index_file)
    assert status >= 400 and b"format_version" not in body


@pytest.mark.slow
def test_auth_protects_the_page_the_api_and_the_files(article_index):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with running_server(article_index, env={"ASSISTANT_AUTH": "ann:correct-horse"}) as url:
        status, body = fetch(url + "config")
        assert status in (401, 403) or b"/ask" not in body
        # the refusal itself, not any error (a server that is down would raise one too)
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url, verbose=False).predict("Who condemned the PKK?", api_name="/ask")
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("ann", "wrong"), verbose=False)
        client = Client(url, auth=("ann", "correct-horse"), verbose=False)
        assert '"answerable": true' in client.predict("Who condemned the PKK?", api_name="/ask")


def test_parallel_failed_logins_are_counted_while_in_flight():
    import asyncio

    from assistant.web.security import LoginRateLimit

    reached = []

    async def app(scope, receive, send):  # a login that fails after a moment
        reached.append(1)
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limit = LoginRateLimit(app, failures=5, window=60)
    scope = {"type": "http", "method": "POST", "path": "/login", "client": ("10.0.0.9", 1)}
    statuses = []

    async def attempt():
        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await limit(scope, None, send)

    async def crowd():
        await asyncio.gather(*(attempt() for _ in range(12)))

    asyncio.run(crowd())
    assert len(reached) == 5 and statuses.count(429) == 7
