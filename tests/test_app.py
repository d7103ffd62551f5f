"""The web app: the /ask endpoint through a real gradio_client, and safe rendering."""

import json

import pytest

from assistant.app import render_html
from assistant.schema import Answer, Highlight, Passage, Source

from .conftest import run_cli

QUESTION = "How many deaths is the PKK responsible for?"


@pytest.mark.slow
def test_cli_python_api_and_web_endpoint_give_the_same_answer(server, article_index, assistant):
    from gradio_client import Client

    client = Client(server, verbose=False)
    from_web = json.loads(client.predict(QUESTION, api_name="/ask"))
    cli = run_cli("ask", QUESTION, "--json", "--index", str(article_index))
    assert cli.returncode == 0, cli.stderr
    assert from_web == json.loads(cli.stdout) == assistant.ask(QUESTION).to_dict()
    assert from_web["passages"][0]["source"]["path"].endswith(
        "turkiye-us-counterterrorism-consultations.txt"
    )
    assert len(json.loads(client.predict(QUESTION, 5, api_name="/ask"))["passages"]) == 5
    off_topic = json.loads(client.predict("How do I bake sourdough bread?", api_name="/ask"))
    assert off_topic["answerable"] is False and off_topic["passages"] == []
    assert off_topic["confidence"] < 0.5


@pytest.mark.slow
def test_web_endpoint_takes_retriever_and_conversation(server, article_index, assistant):
    from gradio_client import Client

    client = Client(server, verbose=False)
    earlier = "What operations did Ankara launch in northern Syria?"
    follow_up = json.loads(
        client.predict("When was the last one?", 1, "", [earlier], api_name="/ask")
    )
    assert "Peace Spring (2019)" in follow_up["passages"][0]["text"]
    assert follow_up["searched"] == f"{earlier} When was the last one?"
    cli = run_cli(
        "ask", "When was the last one?", "-k", "1", "--json", "--context", earlier,
        "--index", str(article_index),
    )  # fmt: skip
    assert json.loads(cli.stdout) == follow_up
    bm25 = json.loads(client.predict(QUESTION, 3, "bm25", api_name="/ask"))
    assert bm25 == assistant.ask(QUESTION, retriever="bm25").to_dict()
    assert bm25["retriever"] == "bm25"
    with pytest.raises(Exception, match="retriever must be one of"):
        client.predict(QUESTION, 3, "keyword", api_name="/ask")


@pytest.mark.slow
def test_web_endpoint_errors_are_clear(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    with pytest.raises(Exception, match="The question is empty"):
        client.predict("   ", api_name="/ask")
    assert list(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == [
        "/ask"
    ]


def test_document_text_is_escaped_in_the_page():
    text = 'Intro <script>alert("x")</script> then <img src=x onerror=alert(1)> end.'
    start = text.index("then")
    answer = Answer(
        question="q",
        answerable=True,
        passages=(
            Passage(
                rank=1,
                score=0.9,
                dense=0.6,
                lexical=0.25,
                text=text,
                source=Source("d", "<b>Title</b>", "docs/<i>x</i>.txt", (3,), 10, 10 + len(text)),
                highlight=Highlight(start, len(text), text[start:]),
            ),
        ),
    )
    page = render_html(answer)
    assert "<script>" not in page and "<img" not in page and "<b>Title" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<mark class="highlight">then &lt;img' in page
    assert "¶3" in page


def test_not_answerable_shows_no_passage():
    page = render_html(Answer(question="q", answerable=False, passages=()))
    assert "Not in the documents" in page and "passage" not in page.split("</b>")[1].split("so")[0]
