"""The MCP server of `assistant serve` (/mcp), driven by the `mcp` package's own client over
streamable HTTP: the tools are listed, `ask` gives the /api/ask answer, errors reach the agent
as the CLI's messages."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from assistant.errors import EmptyQuestionError
from tests.conftest import running_server

mcp = pytest.importorskip("mcp")

QUESTION = "Who condemned the PKK, DHKP-C and Daesh?"


async def _session(url: str) -> dict:
    async with mcp.Client(url + "mcp") as client:
        tools = await client.list_tools()
        answer = await client.call_tool("ask", {"question": QUESTION, "k": 2})
        empty = await client.call_tool("ask", {"question": "  "})
        listed = await client.call_tool("list_documents", {})
    return {
        "tools": {t.name: t for t in tools.tools},
        "answer": answer,
        "empty": empty,
        "listed": listed,
    }


@pytest.mark.slow
def test_an_mcp_client_lists_and_calls_the_tools(small_index):
    with running_server(small_index, env={"ASSISTANT_EMBEDDER": "fake"}) as url:
        got = asyncio.run(_session(url))
        api = httpx.post(url + "api/ask", json={"question": QUESTION, "k": 2}, timeout=60)
        documents = httpx.get(url + "api/documents", timeout=60).json()
    assert set(got["tools"]) == {"ask", "list_documents"}
    schema = got["tools"]["ask"].input_schema
    assert schema["required"] == ["question"] and {"k", "history"} <= set(schema["properties"])
    assert not got["answer"].is_error
    assert got["answer"].content[0].text == api.text  # the API's answer, byte for byte
    assert json.loads(api.text)["passages"]  # and it cites passages
    assert got["empty"].is_error
    assert got["empty"].content[0].text.endswith(str(EmptyQuestionError()))  # SDK prefix
    assert json.loads(got["listed"].content[0].text) == documents
