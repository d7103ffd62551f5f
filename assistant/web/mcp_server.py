"""The Model Context Protocol server at /mcp (streamable HTTP, the `mcp` SDK, stateless): the
tools `ask` and `list_documents`, so an AI agent can ground what it says in the indexed
documents and cite exact spans. The tools return what /api/ask and /api/documents return; an
error is the same message, as a tool error."""

from __future__ import annotations

import contextlib
import json

from starlette.concurrency import run_in_threadpool

from ..answer.assistant import Assistant
from ..errors import AssistantError
from .api import ApiError, AskRequest, answer_text, documents

INSTRUCTIONS = (
    "Answers come from the user's indexed documents only. Each passage is a verbatim span "
    "with its document, paragraphs and character offsets: quote and cite it rather than "
    "paraphrasing. state 'not_found' means the documents do not answer the question."
)


def mcp_server(assistant: Assistant):
    """The MCPServer with both tools (needs the `mcp` package)."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:
        raise AssistantError(
            f"The MCP server needs the mcp package ({exc}). Install it with: "
            ".venv/bin/pip install 'mcp>=2,<3'"
        ) from None
    server = MCPServer(name="citation-assistant", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(
        description="Answer a question from the indexed documents with the k best passages, "
        "each a verbatim quote with its citation (title, paragraphs, character span, path). "
        "Returns the answer JSON of `assistant ask --json`: state is answered, weak or "
        "not_found; passages[].highlight is the best sentence. history: earlier questions of "
        "the conversation, oldest first, for follow-ups."
    )
    async def ask(question: str, k: int = 3, history: list[str] | None = None) -> str:
        request = AskRequest(question=question, k=k, history=tuple(history or ()))
        return await run_in_threadpool(_call, answer_text, assistant, request)

    @server.tool(
        description="List the indexed documents: title, path, doc_ids, chunks, when indexed."
    )
    async def list_documents() -> str:
        return await run_in_threadpool(_call, _documents_text, assistant)

    return server


def _documents_text(assistant: Assistant) -> str:
    return json.dumps(documents(assistant), ensure_ascii=False)


def _call(function, *args) -> str:
    """The tool's text; the API's message as the error an agent reads."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return function(*args)
    except (ApiError, AssistantError) as exc:
        raise ToolError(str(exc)) from None


def mcp_routes(assistant: Assistant, host: str):
    """(the /mcp route, the lifespan context to run while serving). On a loopback address the
    SDK refuses other Host and Origin headers (DNS rebinding); beyond it a login is required."""
    from mcp.server.transport_security import TransportSecuritySettings

    from .security import is_loopback

    server = mcp_server(assistant)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        host="127.0.0.1",
        transport_security=None
        if is_loopback(host)
        else TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager

    @contextlib.asynccontextmanager
    async def lifespan():
        async with manager.run():
            yield

    return list(app.routes), lifespan
