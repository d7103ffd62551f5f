"""A real browser (Debian's Chromium driven by Playwright) uses the running chat: it asks,
opens every kind of citation view, reads the reasons, copies, exports, votes, changes the
settings, and looks at the page at phone and desktop width, light and dark."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from assistant.answer.citations import citation_text
from assistant.export import quote_with_citation
from assistant.feedback import feedback_path
from assistant.settings import RetrievalSettings

from .conftest import ARTIFACTS

pytestmark = pytest.mark.slow

QUESTION = "How many deaths is the PKK responsible for?"
WAIT = 90_000  # ms: an answer on a loaded two-core machine


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "Chromium is missing: install it with 'apt-get install -y chromium' (./test.sh does)."
        )
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=[
                "--no-sandbox",
                "--headless=new",
                "--disable-gpu",
                "--disable-background-networking",
            ],
        )
        yield browser
        browser.close()


class Page:
    """A fresh browser session on the chat, collecting page errors and console errors."""

    def __init__(self, browser, url: str, width=1440, height=1000, theme: str | None = None):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        origin = url.rstrip("/")
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(url + (f"?__theme={theme}" if theme else ""), wait_until="load")
        self.page.wait_for_selector("#question textarea")

    def ask(self, question: str) -> None:
        from playwright.sync_api import expect

        turns = self.page.locator("#conversation .turn")
        before = turns.count()
        box = self.page.locator("#question textarea")
        box.fill(question)
        box.press("Enter")  # Enter asks
        expect(turns).to_have_count(before + 1, timeout=WAIT)

    def last_turn(self):
        return self.page.locator("#conversation .turn").last

    def answer_json(self, turn) -> dict:
        return json.loads(turn.locator("details.answer-json pre").text_content())

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


def test_citation_opens_the_viewer_on_the_exact_span(browser, server, assistant):
    from playwright.sync_api import expect

    s = Page(browser, server)
    s.ask(QUESTION)
    turn = s.last_turn()
    expect(turn.locator(".state-answered")).to_contain_text("Answered")
    expect(turn.locator(".answer-passage")).to_have_count(3)
    expect(turn.locator(".passage").first).to_contain_text("over 40,000 civilian")
    expected = assistant.ask(QUESTION, context=[]).to_dict()
    assert s.answer_json(turn)["passages"] == expected["passages"]

    s.page.evaluate(  # open the "less related" passages, if any
        "document.querySelectorAll('#conversation details').forEach(d => { d.open = true; })"
    )
    for rank, passage in enumerate(expected["passages"], 1):  # every citation
        cite = turn.locator("button.cite").nth(rank - 1)
        expect(cite).to_contain_text(f"[{rank}] Türkiye, US relaunch counterterrorism")
        cite.click()
        viewer = s.page.locator("#viewer-panel .viewer")
        expect(viewer).to_be_visible()
        paragraphs = passage["source"]["paragraphs"]
        expect(viewer.locator(".para.hit")).to_have_count(len(paragraphs))
        expect(viewer.locator(".para.hit .num").first).to_have_text(f"¶{paragraphs[0]}")
        shaded = s.page.evaluate(
            """() => Array.from(document.querySelectorAll('#viewer-panel .para.hit')).map(
                p => Array.from(p.querySelectorAll('.in-passage')).map(x => x.textContent)
                       .join('')).join(' ')"""
        )
        assert " ".join(shaded.split()) == " ".join(passage["text"].split())
        expect(viewer.locator("mark.sentence")).to_have_text(passage["highlight"]["text"].strip())
        # the whole document is there, numbered, and the passage is scrolled into view
        document = assistant.index.documents[passage["source"]["doc_id"]]
        expect(viewer.locator(".para")).to_have_count(len(document.paragraphs))
        body = viewer.locator(".doc-body").bounding_box()
        mark = viewer.locator("mark.sentence").bounding_box()
        assert (
            body["y"] <= mark["y"]
            and mark["y"] + min(mark["height"], 40) <= body["y"] + body["height"]
        )
    s.page.screenshot(path=str(ARTIFACTS / "chat-viewer.png"))
    viewer.locator(".viewer-close").click()
    expect(s.page.locator("#viewer-panel .viewer")).to_have_count(0)
    s.close()


def test_why_view_marks_the_shared_words(browser, server):
    from playwright.sync_api import expect

    s = Page(browser, server)
    s.ask(QUESTION)
    first = s.last_turn().locator(".answer-passage").first
    shared = first.locator(".passage mark.shared")
    texts = {t.casefold() for t in shared.all_text_contents()}
    assert {"pkk", "responsible", "deaths"} <= texts
    unmarked = shared.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert unmarked == "rgba(0, 0, 0, 0)"  # shown only with the reasons
    first.locator("details.why summary").click()
    why = first.locator(".why-body")
    expect(why).to_contain_text("Words it shares with the question: PKK, responsible, deaths")
    expect(why).to_contain_text("Close in meaning:")
    expect(why).to_contain_text("Shared words:")
    assert shared.first.evaluate("e => getComputedStyle(e).backgroundColor") != unmarked
    widths = [
        float(why.locator(f".bar-{part}").evaluate("e => e.style.width").rstrip("%"))
        for part in ("meaning", "words")
    ]
    assert all(w > 0 for w in widths) and abs(sum(widths) - 100) < 0.5
    s.close()


def test_not_in_the_documents_shows_no_passage_and_a_weak_match_warns(
    browser, server, assistant, article_index
):
    from playwright.sync_api import expect

    s = Page(browser, server)
    s.ask("How do I bake sourdough bread?")
    turn = s.last_turn()
    expect(turn.locator(".state-not_found")).to_contain_text("Not in the documents")
    assert turn.locator(".answer-passage, blockquote, button.cite, button.copy").count() == 0
    assert s.answer_json(turn)["passages"] == []

    # a lower threshold (this session only) lets a near-topic question through, as a weak match
    s.page.locator("#settings").get_by_text("Settings (this browser tab only)").click()
    for setting, value in (("#set-threshold", "0.05"), ("#set-k", "1")):
        number = s.page.locator(f"{setting} input[type=number]")
        expect(number).to_be_visible()
        for _ in range(5):  # the accordion's sliders may take a moment to come alive
            number.fill(value)
            number.press("Tab")
            s.page.wait_for_timeout(300)
            if s.page.locator(f"{setting} input[type=range]").input_value() == value:
                break
        expect(s.page.locator(f"{setting} input[type=range]")).to_have_value(value)
    s.page.get_by_label("Shared words only (BM25)").check()
    s.page.locator("#set-documents input").click()  # limit the search to one document
    s.page.get_by_role("option", name="Türkiye, US relaunch counterterrorism consultations").click()
    s.page.keyboard.press("Escape")
    s.ask("What is the population of Ankara?")
    turn = s.last_turn()
    expect(turn.locator(".state-weak")).to_contain_text("Weak match")
    expect(turn.locator(".state-weak")).to_contain_text("may not answer the question")
    expect(turn.locator(".answer-passage")).to_have_count(1)
    settings = s.answer_json(turn)["settings"]
    assert settings["k"] == 1 and settings["retriever"] == "bm25"
    assert settings["answerable_at"] == 0.05
    assert settings["weak_below"] == round(RetrievalSettings().weak_below, 4)
    assert settings["documents"] == list(assistant.index.documents)
    assert settings["index"] == article_index.name
    assert s.answer_json(turn)["state"] == "weak"

    other = Page(browser, server)  # another browser session keeps the defaults
    other.ask("What is the population of Ankara?")
    default = round(RetrievalSettings().answerable_at, 4)
    assert other.answer_json(other.last_turn())["settings"]["answerable_at"] == default
    other.close()
    s.close()


def test_copy_export_vote_and_clear(browser, server, article_index):
    from playwright.sync_api import expect

    s = Page(browser, server)
    s.ask(QUESTION)
    s.ask("Which operations has Ankara launched in northern Syria?")
    s.ask("When was the last one?")  # a follow-up, understood from the question before
    follow_up = s.last_turn()
    expect(follow_up.locator(".searched")).to_contain_text("northern Syria? When was the last")
    expect(follow_up.locator(".passage").first).to_contain_text("Peace Spring (2019)")
    turn = s.page.locator("#conversation .turn").first
    answer = s.answer_json(turn)
    first = turn.locator(".answer-passage").first
    first.locator("button.copy").click()
    expect(first.locator(".tool-status")).to_have_text("Copied the quote with its citation.")
    copied = s.page.evaluate("navigator.clipboard.readText()")
    assert copied == quote_with_citation(answer["passages"][0])
    assert copied.endswith(
        "— Türkiye, US relaunch counterterrorism consultations, ¶7, chars 977–1,222, "
        "assistant/corpus/turkiye-us-counterterrorism-consultations.txt"
    )
    assert s.page.locator("#copy-buffer").input_value() == copied

    with s.page.expect_download() as download:
        s.page.locator("#export").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"## 1. {QUESTION}" in markdown and "## 3. When was the last one?" in markdown
    for t in range(3):
        for p in s.answer_json(s.page.locator("#conversation .turn").nth(t))["passages"]:
            assert f"{p['rank']}. {citation_text(p['source'])}" in markdown
            for line in p["highlight"]["text"].strip().split("\n"):  # quoted line by line
                assert f"**{line.strip()}**" in markdown

    votes = feedback_path(article_index)
    before = len(votes.read_text().splitlines()) if votes.is_file() else 0
    first.locator("button.vote[data-vote='1']").click()
    expect(first.locator(".tool-status")).to_have_text("Thanks: vote saved.")
    expect(first.locator("button.vote[data-vote='1']")).to_have_attribute("aria-pressed", "true")
    lines = votes.read_text(encoding="utf-8").splitlines()
    assert len(lines) == before + 1
    record = json.loads(lines[-1])
    assert record["question"] == QUESTION and record["vote"] == 1
    assert record["doc_id"] == answer["passages"][0]["source"]["doc_id"]

    s.page.locator("#clear").click()
    expect(s.page.locator("#conversation .turn")).to_have_count(0)
    expect(s.page.locator("#conversation .welcome")).to_be_visible()
    s.close()


def test_keyboard_only(browser, server):
    from playwright.sync_api import expect

    s = Page(browser, server)
    s.page.locator("#question textarea").focus()
    s.page.keyboard.type(QUESTION)
    s.page.keyboard.press("Enter")
    expect(s.page.locator("#conversation .turn")).to_have_count(1, timeout=WAIT)
    s.page.locator("h2").first.click()  # start from the top of the page
    for _ in range(40):  # Tab reaches the first citation
        s.page.keyboard.press("Tab")
        if s.page.evaluate("document.activeElement.classList.contains('cite')"):
            break
    else:
        pytest.fail("Tab never reached a citation")
    s.page.keyboard.press("Enter")
    expect(s.page.locator("#viewer-panel mark.sentence")).to_be_visible()
    assert s.page.evaluate("document.activeElement.classList.contains('viewer-title')")
    s.page.keyboard.press("Escape")
    expect(s.page.locator("#viewer-panel .viewer")).to_have_count(0)
    assert s.page.evaluate("document.activeElement.classList.contains('cite')")
    s.close()


@pytest.mark.parametrize(
    ("name", "width", "height", "theme"),
    [
        ("chat-desktop", 1440, 1000, None),
        ("chat-phone", 390, 844, None),
        ("chat-dark", 1440, 1000, "dark"),
    ],
)
def test_screenshots_at_phone_and_desktop_width(browser, server, name, width, height, theme):
    from playwright.sync_api import expect

    s = Page(browser, server, width, height, theme)
    s.ask(QUESTION)
    turn = s.last_turn()
    turn.locator("details.why summary").first.click()
    turn.locator("button.cite").first.click()
    expect(s.page.locator("#viewer-panel mark.sentence")).to_be_visible()
    if theme == "dark":
        assert s.page.evaluate("document.body.classList.contains('dark')")
    # nothing wider than the screen: no horizontal scrolling
    assert s.page.evaluate("document.documentElement.scrollWidth") <= width
    viewer = s.page.locator("#viewer-panel").bounding_box()
    chat = s.page.locator("#conversation").bounding_box()
    if width < 600:  # the viewer stacks below the chat on a phone, beside it on a desktop
        assert viewer["y"] > chat["y"] + chat["height"] - 1
    else:
        assert viewer["x"] > chat["x"] + chat["width"] - 1
    s.page.evaluate("window.scrollTo(0, 0)")
    s.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert re.search(r"Answered", turn.locator(".state").text_content())
    s.close()


EVIL = (
    "Reactor notes\n\nThe reactor <script>window.__xss = 1; alert('script')</script> delivers "
    "900 megawatts <img src=x onerror=\"window.__xss = 2; alert('img')\"> at full power."
)
EVIL_HTML = (
    "<html><head><title>Turbine &lt;img src=x onerror=alert(3)&gt; report</title></head><body>"
    "<article><h1>Turbine report</h1><p>The turbine hall holds four generators of 250 megawatts "
    "each, says the &lt;script&gt;window.__xss=3&lt;/script&gt; plant manager today.</p>"
    "<p>Maintenance of the generators takes place every spring during low demand.</p>"
    "</article><script>window.__xss = 4;</script></body></html>"
)


def test_document_text_never_runs_in_the_page_and_uploads_work(browser, tmp_path, embedder):
    from playwright.sync_api import expect

    from assistant import ingest

    from .conftest import running_server

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "reactor.txt").write_text(EVIL)
    index_dir = tmp_path / "index"
    ingest([docs], index_dir, embedder=embedder)
    upload = tmp_path / "turbine <img src=x onerror=alert(5)>.html"
    upload.write_text(EVIL_HTML)
    dialogs: list[str] = []
    with running_server(index_dir) as url:
        s = Page(browser, url, width=1280)
        page = s.page
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        s.ask("How many megawatts does the reactor deliver?")
        passage = s.last_turn().locator(".passage").first
        expect(passage).to_contain_text("<script>window.__xss = 1;")
        expect(passage).to_contain_text('<img src=x onerror="window.__xss = 2;')
        s.last_turn().locator("button.cite").first.click()  # the whole document in the viewer
        expect(page.locator("#viewer")).to_contain_text("<script>window.__xss = 1;")

        page.locator("#documents-panel").get_by_text("Documents: add, list, remove").click()
        page.locator("#upload input[type=file]").set_input_files(str(upload))
        expect(page.locator("#documents-status textarea")).to_have_value(
            "✓ added "
            + str(index_dir.parent / "index-uploads" / "turbine-img-src-x-onerror-alert-5.html"),
            timeout=120_000,
        )
        # the title is the page's <title>, its markup shown as text
        expect(page.locator("#documents")).to_contain_text(
            "Turbine <img src=x onerror=alert(3)> report"
        )
        s.ask("How many generators are in the turbine hall?")
        expect(s.last_turn()).to_contain_text("four generators")
        expect(s.last_turn()).to_contain_text("<script>window.__xss=3</script>")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.__xss") is None
        page.screenshot(path=str(ARTIFACTS / "xss-and-upload.png"), full_page=True)
        s.close()
    assert dialogs == []
