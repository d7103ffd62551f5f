"""Who may reach the chat and the API: loopback by default; authentication before binding
anywhere else."""

from __future__ import annotations

import base64
import contextlib
import errno
import hmac
import ipaddress
import json
import math
import socket
import threading
import time
from collections import deque

from .. import settings
from ..errors import AssistantError, InvalidArgumentError

AUTH_ENV = "ASSISTANT_AUTH"


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' (from --auth or $ASSISTANT_AUTH) to a pair; None when not given."""
    if value is None or value == "":
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InvalidArgumentError(
            "Authentication must be given as USER:PASSWORD (with --auth or $ASSISTANT_AUTH), "
            "both parts non-empty."
        )
    return user, password


def auth_from(cli_value: str | None) -> tuple[str, str] | None:
    return parse_auth(cli_value if cli_value is not None else settings.auth_env())


def is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


class LocalNamesOnly:
    """For a server on a loopback address without a login: answers 403 to a request whose
    Host header is not a loopback name, so a web page whose domain is rebound to 127.0.0.1
    (DNS rebinding) cannot read the API. The MCP SDK checks /mcp the same way."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1")
            name = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
            if not is_loopback(name):
                message = (
                    f"This server answers only requests addressed to a loopback name, not to "
                    f"{host!r}; use http://127.0.0.1:PORT, or serve it with a login (--auth)."
                )
                return await _json_answer(send, 403, message, {})
        return await self.app(scope, receive, send)


def check_exposure(host: str, auth: tuple[str, str] | None, allow_public: bool) -> None:
    """Refuses to serve beyond this machine without authentication, unless told explicitly."""
    if is_loopback(host) or auth is not None or allow_public:
        return
    raise InvalidArgumentError(
        f"Refusing to serve on {host} without authentication: anyone who can reach this "
        "machine could read and change the indexed documents. Add --auth USER:PASSWORD (or set "
        f"${AUTH_ENV}=USER:PASSWORD), bind to 127.0.0.1, or pass --allow-public-without-auth "
        "if the network is trusted."
    )


class RateLimit:
    """At most `per_key` events per `window` seconds for each key, and `overall` in all."""

    def __init__(self, per_key: int, overall: int, window: float = 60.0) -> None:
        self.per_key, self.overall, self.window = per_key, overall, window
        self._all: deque[float] = deque()
        self._by_key: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Counts one event for `key`; False (and not counted) when it is over a limit."""
        with self._lock:
            now = time.monotonic()
            if len(self._by_key) > 10_000:  # forget the keys with no recent events
                self._by_key = {
                    k: t for k, t in self._by_key.items() if t and t[-1] > now - self.window
                }
            mine = self._by_key.setdefault(key, deque())
            for times in (self._all, mine):
                while times and times[0] <= now - self.window:
                    times.popleft()
            if len(self._all) >= self.overall or len(mine) >= self.per_key:
                return False
            self._all.append(now)
            mine.append(now)
            return True


# --- ASGI middleware for `assistant serve` (passed to FastAPI by demo.launch(app_kwargs=...)) ---


async def _answer(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = message.encode("utf-8")
    fields = {"content-type": "text/plain; charset=utf-8", "content-length": str(len(body))}
    fields |= headers or {}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode()) for k, v in fields.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_post(scope, *paths: str) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    return scope["path"].rstrip("/").endswith(paths)


def _content_length(scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class UploadSizeLimit:
    """Answers 413 to an upload whose Content-Length is over `limit`, before reading its body
    (Gradio refuses an oversized file only once all of it has arrived)."""

    def __init__(self, app, limit: int, path: str = "/gradio_api/upload") -> None:
        self.app, self.limit, self.path = app, limit, path

    async def __call__(self, scope, receive, send):
        length = _content_length(scope) if _is_post(scope, self.path) else None
        if length is not None and length > self.limit:
            return await _answer(
                send,
                413,
                f"The upload is {length / 2**20:.1f} MiB; the limit is "
                f"{self.limit / 2**20:.0f} MiB per upload. Upload fewer or smaller files at a "
                "time, or add them from the command line (assistant ingest).",
            )
        return await self.app(scope, receive, send)


class LoginRateLimit:
    """After `failures` failed logins from one address within `window` seconds, answers 429
    (with Retry-After) until the oldest of them is `window` seconds old."""

    MAX_ADDRESSES = 10_000

    def __init__(self, app, failures: int = 5, window: float = 60.0) -> None:
        self.app, self.failures, self.window = app, failures, window
        self.failed: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self.failed.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def wait(self, address: str, now: float) -> int:
        """Seconds `address` must wait before trying again; 0 when it may (nothing recorded)."""
        times = self.failed.get(address)
        if times is None or len(self._recent(address, now)) < self.failures:
            return 0
        return max(1, math.ceil(times[0] + self.window - now))

    def count_failure(self, address: str, now: float) -> None:
        self._recent(address, now).append(now)
        self._prune(now)

    def _prune(self, now: float) -> None:
        if len(self.failed) > self.MAX_ADDRESSES:  # keep the addresses failing lately
            live = [(k, v) for k, v in self.failed.items() if self._recent(k, now)]
            self.failed = dict(live[-self.MAX_ADDRESSES :])

    async def __call__(self, scope, receive, send):
        if not _is_post(scope, "/login"):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown",))[0]
        now = time.monotonic()
        times = self._recent(address, now)
        if len(times) >= self.failures:
            wait = max(1, math.ceil(times[0] + self.window - now))
            return await _answer(
                send,
                429,
                f"Too many failed logins from this address; try again in {wait} s.",
                {"retry-after": str(wait)},
            )
        times.append(now)  # counted while in flight: parallel attempts cannot slip through
        status = []

        async def watch(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not (status and 400 <= status[0] < 500):  # not a failed login: uncount it
                with contextlib.suppress(ValueError):
                    times.remove(now)
            self._prune(now)


class ServerFunctionGuard:
    """Calls of the page's server functions (POST /gradio_api/component_server): answers 413
    to a body over `limit` bytes, and keeps the call's session_hash in `request.state` (Gradio
    hands these functions the bare request, which lacks it)."""

    def __init__(self, app, limit: int = 64 * 1024, path: str = "/component_server") -> None:
        self.app, self.limit, self.path = app, limit, path

    async def __call__(self, scope, receive, send):
        if not _is_post(scope, self.path):
            return await self.app(scope, receive, send)
        too_big = 413, f"A server-function call is limited to {self.limit // 1024} KiB."
        if (_content_length(scope) or 0) > self.limit:
            return await _answer(send, *too_big)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _answer(send, *too_big)
        try:
            session = json.loads(body).get("session_hash")
        except (ValueError, AttributeError):
            session = None  # multipart, or not JSON: Gradio answers it
        if not isinstance(session, str):
            session = None
        scope.setdefault("state", {})["session_hash"] = session
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def session_of(request) -> str | None:
    """The Gradio session (one page load) a request belongs to: an event's gr.Request has it,
    a server-function call has it from ServerFunctionGuard; None otherwise."""
    session = getattr(request, "session_hash", None)
    if session is None:
        session = getattr(getattr(request, "state", None), "session_hash", None)
    return session if isinstance(session, str) and session else None


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


class ApiAuth:
    """HTTP Basic login, the chat's USER:PASSWORD, on the paths programs use (/api, /mcp):
    401 without it (JSON, with WWW-Authenticate), and 429 for `failures` failed logins from one
    address within `window` seconds, as the chat's login page. `auth` None: every request
    passes."""

    def __init__(
        self,
        app,
        auth: tuple[str, str] | None,
        prefixes: tuple[str, ...] = ("/api", "/mcp"),
        failures: int = 5,
        window: float = 60.0,
    ) -> None:
        self.app, self.prefixes = app, prefixes
        self.expected = None
        if auth is not None:
            self.expected = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        self.failed = LoginRateLimit(None, failures, window)

    def _guarded(self, scope) -> bool:
        if self.expected is None or scope["type"] != "http":
            return False
        path = scope["path"]
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope, receive, send):
        if not self._guarded(scope):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown",))[0]
        now = time.monotonic()
        wait = self.failed.wait(address, now)
        if wait:
            message = f"Too many failed logins from this address; try again in {wait} s."
            return await _json_answer(send, 429, message, {"retry-after": str(wait)})
        given = dict(scope.get("headers", ())).get(b"authorization", b"").decode("latin-1")
        if hmac.compare_digest(given.encode(), self.expected.encode()):
            return await self.app(scope, receive, send)
        if given:
            self.failed.count_failure(address, now)
        return await _json_answer(
            send,
            401,
            "This server needs a login: send the USER:PASSWORD it was started with (--auth or "
            f"${AUTH_ENV}) as HTTP Basic authentication, e.g. curl -u USER:PASSWORD.",
            {"www-authenticate": 'Basic realm="assistant", charset="UTF-8"'},
        )


async def _json_answer(send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}) + "\n"
    await _answer(send, status, body, {"content-type": "application/json", **headers})
