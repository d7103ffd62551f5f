"""The JSON API beside the chat: POST /api/ask, GET /api/health, GET /api/documents, and its
OpenAPI docs under /api/docs. `/api/ask` answers with the bytes `assistant ask --json` prints
(Answer.to_json and a newline); every check is the CLI's (validation.py), so the messages are
the same. Errors are `{"error": message}` with a 4xx or 503 status, never a traceback.

The same app serves each Ray Serve replica (replicas.py). Logins are checked before a request
gets here (security.ApiAuth)."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..answer.assistant import Assistant
from ..errors import AssistantError, IndexMissingError, InvalidArgumentError
from ..indexing.sync import list_documents
from ..schema import MODES, dumps
from ..store.folder import version_of
from ..validation import MAX_CONTEXT, MAX_K, MAX_QUESTION_CHARS, validate_k

MAX_BODY_BYTES = 1 << 20  # a question of 20,000 characters and 20 earlier ones fit many times
FIELDS = ("question", "k", "retriever", "history", "documents")
EXAMPLE = '{"question": "Who condemned the PKK?", "k": 3}'
ASK_SCHEMA = {
    "type": "object",
    "required": ["question"],
    "additionalProperties": False,
    "properties": {
        "question": {"type": "string", "maxLength": MAX_QUESTION_CHARS},
        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 3},
        "retriever": {"type": "string", "enum": list(MODES), "description": "default: the index's"},
        "history": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"earlier questions, oldest first (the last {MAX_CONTEXT} are kept): "
            "a follow-up is searched with them",
        },
        "documents": {
            "type": "array",
            "items": {"type": "string"},
            "description": "doc_ids to search (default: all); GET /api/documents lists them",
        },
    },
    "example": json.loads(EXAMPLE),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AskRequest:
    question: str
    k: int = 3
    retriever: str | None = None
    history: tuple[str, ...] = ()
    documents: tuple[str, ...] | None = None


def parse_ask(body: bytes, content_type: str) -> AskRequest:
    """The request body of POST /api/ask; ApiError (415 or 400) with what to send instead."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(
            415,
            f"Send the question as JSON with Content-Type: application/json, e.g. {EXAMPLE}.",
        )
    try:
        data = json.loads(body.decode("utf-8"))  # strict: raw control characters are refused
    except UnicodeDecodeError:
        raise ApiError(400, "The body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    except ValueError as exc:
        raise ApiError(400, f"The body is not valid JSON ({exc}); send e.g. {EXAMPLE}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"The body must be a JSON object, e.g. {EXAMPLE}.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}.")
    if "question" not in data:
        raise ApiError(400, f"The field 'question' is missing; send e.g. {EXAMPLE}.")
    k = data.get("k", 3)
    k = int(k) if isinstance(k, float) and k.is_integer() else k  # 3.0 from some clients
    retriever = data.get("retriever")
    if retriever is not None and not isinstance(retriever, str):
        raise InvalidArgumentError(
            f"retriever must be one of {', '.join(MODES)}, not {retriever!r}."
        )
    return AskRequest(
        question=data["question"],  # Assistant.ask checks it (type, empty, length)
        k=validate_k(k),
        retriever=retriever or None,
        history=_strings(data.get("history"), "history", "the earlier questions"),
        documents=_strings(data.get("documents"), "documents", "doc_ids") or None,
    )


def _strings(value, name: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgumentError(f"{name} must be a list of {what}, not {type(value).__name__}.")
    for n, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"{name} item {n} must be text (a string), not {type(item).__name__}."
            )
    return tuple(value)


def unavailable(assistant: Assistant) -> str:
    """Why the served index cannot answer now ("" when it can): its folder is gone, or the
    version on disk cannot be loaded. Either message names the command that mends it."""
    path = Path(assistant.index.path)
    for _ in range(3):  # where an ingest swaps with two renames, the folder is gone briefly
        if version_of(path) is not None:
            break
        time.sleep(0.02)
    else:
        return str(IndexMissingError(str(path)))
    return assistant.load_error


def answer_text(assistant: Assistant, request: AskRequest) -> str:
    """The answer's JSON and a newline: what `assistant ask --json` prints for it."""
    problem = unavailable(assistant)
    if problem:
        raise ApiError(503, problem)
    answer = assistant.ask(
        request.question,
        k=request.k,
        retriever=request.retriever,
        context=request.history,
        documents=request.documents,
    )
    return answer.to_json() + "\n"


def health(assistant: Assistant) -> tuple[int, dict]:
    assistant.refresh()
    problem = unavailable(assistant)
    manifest = assistant.index.manifest  # the version answering (the last one loaded)
    counts = manifest.get("counts", {})
    body = {
        "status": "unavailable" if problem else "ok",
        "index": str(assistant.index.path),
        "version": manifest.get("created_at"),
        "documents": counts.get("documents"),
        "chunks": counts.get("chunks"),
    }
    if problem:
        body["error"] = problem
    return (503 if problem else 200), body


def documents(assistant: Assistant) -> list[dict]:
    """What `assistant list --json` prints, one object per indexed file, as one array."""
    problem = unavailable(assistant)
    if problem:
        raise ApiError(503, problem)
    return [doc.to_dict() for doc in list_documents(assistant.index.path)]


def error(status: int, message: str) -> Response:
    return Response(dumps({"error": message}) + "\n", status, media_type="application/json")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (413) as soon as it passes `limit`, before the rest is read."""
    too_big = ApiError(
        413,
        f"The body is over {limit // 1024} KiB; a question is at most {MAX_QUESTION_CHARS:,} "
        "characters. Send the question, not documents (add those with assistant ingest).",
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def api_app(assistant: Assistant) -> FastAPI:
    """The /api app (mounted at /api by app.py, served alone by each Ray replica)."""
    api = FastAPI(
        title="Citation Assistant API",
        description="Every answer is a set of verbatim passages, each citing its source. The "
        "answer's fields are described in docs/json-contract.md.",
        version="1",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    @api.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return error(exc.status, str(exc))

    @api.exception_handler(AssistantError)
    async def _assistant_error(_request, exc: AssistantError):
        return error(400, str(exc))  # the checks of validation.py: the CLI's messages

    @api.exception_handler(HTTPException)
    async def _http_error(_request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail))

    @api.exception_handler(Exception)
    async def _unexpected(_request, exc: Exception):
        return error(500, f"unexpected {type(exc).__name__}: the server's log has the details.")

    @api.post(
        "/ask",
        summary="Answer a question with cited passages",
        description="The answer is the JSON `assistant ask --json` prints, byte for byte.",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ASK_SCHEMA}},
            }
        },
        responses={
            200: {"description": "the answer (docs/json-contract.md)"},
            400: {"description": "a bad question, k, retriever, history or documents"},
            413: {"description": "a body over 1 MiB"},
            415: {"description": "not application/json"},
            503: {"description": "the index is missing or cannot be loaded"},
        },
    )
    async def ask(request: Request) -> Response:
        parsed = parse_ask(await read_body(request), request.headers.get("content-type", ""))
        text = await run_in_threadpool(answer_text, assistant, parsed)
        return Response(text, media_type="application/json")

    @api.get("/health", summary="Whether the index can answer, its size and version")
    async def get_health() -> Response:
        status, body = await run_in_threadpool(health, assistant)
        return JSONResponse(body, status)

    @api.get("/documents", summary="The indexed files (what assistant list --json gives)")
    async def get_documents() -> Response:
        listed = await run_in_threadpool(documents, assistant)
        return Response(dumps(listed) + "\n", media_type="application/json")

    return api


def programs_app(
    assistant: Assistant, host: str, mcp: bool, middleware: list, login: bool
) -> FastAPI:
    """The app programs talk to: /api, and /mcp unless `mcp` is False, behind `middleware`
    (the chat mounts itself at / on top of it: app.make_app). Served on a loopback address
    without a `login`, /api answers only requests addressed to a loopback name."""
    from .batching import batch_questions
    from .security import LocalNamesOnly, is_loopback

    batch_questions(assistant)
    routes, mcp_lifespan = ([], None)
    if mcp:
        from .mcp_server import mcp_routes

        routes, mcp_lifespan = mcp_routes(assistant, host)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async with contextlib.AsyncExitStack() as stack:
            if mcp_lifespan is not None:
                await stack.enter_async_context(mcp_lifespan())
            yield

    app = FastAPI(
        lifespan=lifespan, middleware=middleware, docs_url=None, redoc_url=None, openapi_url=None
    )
    api = api_app(assistant)
    app.mount("/api", LocalNamesOnly(api) if is_loopback(host) and not login else api)
    app.router.routes.extend(routes)
    return app
