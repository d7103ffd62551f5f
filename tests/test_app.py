"""The web app: the /ask endpoint through a real gradio_client, and safe rendering."""

import json
from dataclasses import replace

import pytest

from assistant.errors import InvalidArgumentError
from assistant.schema import Answer, Document, Highlight, Passage, Source
from assistant.web.chat_html import conversation_html, viewer_html

from .conftest import run_cli

QUESTION = "How many deaths is the PKK responsible for?"


@pytest.mark.slow
def test_cli_python_api_and_web_endpoint_give_the_same_answer(server, article_index, assistant):
    from gradio_client import Client

    client = Client(server, verbose=False)
    web_text = client.predict(QUESTION, api_name="/ask")
    from_web = json.loads(web_text)
    cli = run_cli("ask", QUESTION, "--json", "--index", str(article_index))
    assert cli.returncode == 0, cli.stderr
    assert from_web == json.loads(cli.stdout) == assistant.ask(QUESTION).to_dict()
    assert web_text == cli.stdout.rstrip("\n") == assistant.ask(QUESTION).to_json()  # same bytes
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


def xss_answer(state="answered") -> Answer:
    text = 'Intro <script>alert("x")</script> then <img src=x onerror=alert(1)> end.'
    start = text.index("then")
    return Answer(
        question="<b>q</b> intro",
        answerable=state != "not_found",
        confidence={"answered": 0.9, "weak": 0.2, "not_found": 0.05}[state],
        passages=()
        if state == "not_found"
        else (
            Passage(
                rank=1,
                score=0.9,
                dense=0.6,
                lexical=0.25,
                text=text,
                source=Source(
                    "d",
                    "<b>Title</b>",
                    "docs/<i>x</i>.txt",
                    (3,),
                    10,
                    10 + len(text),
                    metadata=(("author", "<em>Ann</em>"), ("date", "2024-05-01")),
                ),  # fmt: skip
                highlight=Highlight(start, len(text), text[start:]),
            ),
        ),
    )


def test_document_text_is_escaped_in_the_page():
    page = conversation_html([xss_answer().to_dict()])
    assert "<script>" not in page and "<img" not in page and "<b>Title" not in page
    assert "<em>Ann" not in page and "<i>x" not in page and "<b>q" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<mark class="highlight">then &lt;img' in page and '"shared">Intro</mark>' in page
    assert "¶3" in page and "&lt;em&gt;Ann&lt;/em&gt; · 2024-05-01" in page


def test_each_answer_shows_one_state():
    answered = conversation_html([xss_answer("answered").to_dict()])
    weak = conversation_html([xss_answer("weak").to_dict()])
    missing = conversation_html([xss_answer("not_found").to_dict()])
    assert "state-answered" in answered and "Answered" in answered and "Weak" not in answered
    assert "state-weak" in weak and "⚠ Weak match" in weak and "may not answer" in weak
    assert "answer-passage" in weak
    assert "Not in the documents" in missing and "answer-passage" not in missing
    assert "<blockquote" not in missing and "button class" not in missing.split("answer-json")[0]


def test_the_why_view_explains_the_score_in_words():
    answer = xss_answer().to_dict()
    page = conversation_html([answer])
    why = page.split('<details class="why">')[1].split("</details>")[0]
    assert "Words it shares with the question" in why and '<mark class="shared">Intro</mark>' in why
    assert "Close in meaning: 60% similar" in why and "25% of the question" in why
    # the bar: meaning 0.6 and shared words 1.2 x 0.25 = 0.3 of a 0.9 score
    assert "width:66.7%" in why and "width:33.3%" in why


def test_viewer_shades_the_passage_and_marks_the_sentence():
    text = "Title line\n\nFirst para <b>here</b>.\n\nSecond para. Its best sentence.\n\nLast."
    paragraphs = []
    for block in text.split("\n\n"):
        start = text.index(block)
        paragraphs.append((start, start + len(block)))
    doc = Document("d", "Title line", "a/<x>.txt", text, "0", tuple(paragraphs))
    start, end = paragraphs[2]
    hs = text.index("Its best")
    page = viewer_html(doc, start, end, hs, end)
    assert page.count('class="para') == 4 and "¶4" in page
    assert '<div class="para hit" id="viewer-target" data-paragraph="3">' in page
    assert '<mark class="sentence">Its best sentence.</mark>' in page
    assert '<span class="in-passage">Second para. </span>' in page
    assert "&lt;b&gt;here" in page and "a/&lt;x&gt;.txt" in page
    paged = replace(doc, pages=((0, paragraphs[2][0]), (paragraphs[2][0], len(text))))
    page = viewer_html(paged, start, end, hs, end)
    assert 'title="Page 2">p. 2</span>' in page and "Passage at p. 2, ¶3" in page
    # a page that starts inside a paragraph is shown beside that paragraph
    middle = paragraphs[1][0] + 3
    split = replace(doc, pages=((0, middle), (middle, len(text))))
    page = viewer_html(split, start, end, hs, end)
    second = page.split('data-paragraph="2"')[1].split('data-paragraph="3"')[0]
    assert ">p. 2</span>" in second and ">p. 1</span>" not in second
    assert page.count('class="page"') == 2


def test_not_answerable_shows_no_passage():
    page = conversation_html([Answer(question="q", answerable=False, passages=()).to_dict()])
    assert "Not in the documents" in page and "answer-passage" not in page


def test_answer_json_carries_its_state_thresholds_and_settings(assistant):
    answer = assistant.ask(QUESTION, k=2, retriever="dense")
    d = answer.to_dict()
    assert d["state"] == answer.state == "answered" and d["confidence"] >= 0.35
    assert d["settings"] == {
        "k": 2,
        "retriever": "dense",
        "answerable_at": 0.134,
        "weak_below": 0.323,
        "less_related_below": 0.5,
        "documents": [],
    }
    off = assistant.ask("How do I bake sourdough bread?")
    assert off.state == "not_found" and off.to_dict()["passages"] == []
    # a per-call threshold: the same question shown as a weak match, or refused
    low = assistant.ask("What is the population of Ankara?", answerable_at=0.01)
    assert low.answerable and low.state == "weak" and low.passages
    assert low.to_dict()["settings"]["answerable_at"] == 0.01
    high = assistant.ask(QUESTION, answerable_at=1.0)
    assert high.state == "not_found" and high.passages == ()
    with pytest.raises(InvalidArgumentError, match="answerable_at must be a probability"):
        assistant.ask(QUESTION, answerable_at=1.5)


def test_search_can_be_limited_to_some_documents(tmp_path, embedder):
    from assistant import Assistant, ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rivers.md").write_text(
        "# Rivers\n\nThe Danube flows through four capitals: Vienna, Bratislava, Budapest "
        "and Belgrade.\n\nThe Rhine rises in the Swiss Alps.\n",
        encoding="utf-8",
    )
    (docs / "cities.md").write_text(
        "# Cities\n\nBudapest is the capital of Hungary and lies on the Danube.\n\n"
        "Vienna is famous for its coffee houses.\n",
        encoding="utf-8",
    )
    ingest([docs], tmp_path / "index", embedder=embedder)
    assistant = Assistant.open(tmp_path / "index", embedder=embedder)
    ids = {d.path.rsplit("/", 1)[-1]: doc_id for doc_id, d in assistant.index.documents.items()}
    question = "Which river flows through Budapest?"
    both = {p.source.doc_id for p in assistant.ask(question, k=4).passages}
    assert both == set(ids.values())
    for name in ("rivers.md", "cities.md"):
        for mode in ("hybrid", "dense", "bm25"):
            answer = assistant.ask(question, k=4, retriever=mode, documents=[ids[name]])
            assert {p.source.doc_id for p in answer.passages} == {ids[name]}
            assert answer.to_dict()["settings"]["documents"] == [ids[name]]
    with pytest.raises(InvalidArgumentError, match="No document 'nope'"):
        assistant.ask(question, documents=["nope"])

    # a document's metadata (author, outlet, date: filled by the HTML/PDF/DOCX readers) is cited
    doc_id = ids["rivers.md"]
    meta = (("author", "Ann Lee"), ("outlet", "River News"), ("date", "2024-05-01"))
    documents = dict(assistant.index.documents)
    documents[doc_id] = replace(documents[doc_id], metadata=meta)
    assistant = Assistant(replace(assistant.index, documents=documents), embedder)
    answer = assistant.ask(question, documents=[doc_id])
    assert answer.passages[0].source.metadata == meta
    assert answer.to_dict()["passages"][0]["source"]["metadata"] == dict(meta)
    page = conversation_html([answer.to_dict()])
    assert '<span class="byline">Ann Lee · River News · 2024-05-01</span>' in page
    assert "Rivers — Ann Lee, River News, 2024-05-01, ¶" in page  # in the copied citation
    source = answer.passages[0].source
    viewer = viewer_html(assistant.index.documents[doc_id], source.start, source.end, 0, 0)
    assert "Author: Ann Lee · Outlet: River News · Date: 2024-05-01" in viewer


def test_settings_list_the_served_index_and_its_neighbours(tmp_path, article_index):
    import shutil

    from assistant.web.chat import index_folders

    root = tmp_path / "indexes"
    shutil.copytree(article_index, root / "served")
    shutil.copytree(article_index, root / "other")
    (root / "not-an-index").mkdir()
    (root / ".served.new-123").mkdir()
    folders = index_folders(root / "served")
    assert list(folders)[:2] == ["served", "other"]
    assert folders["served"] == (root / "served").resolve()
    assert "not-an-index" not in folders and ".served.new-123" not in folders
