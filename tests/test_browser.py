"""A real browser (Debian's Chromium driven by Playwright) asks the running chat a question."""

import shutil

import pytest

from .conftest import ARTIFACTS

pytestmark = pytest.mark.slow


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "Chromium is missing: install it with 'apt-get install -y chromium' (./test.sh does)."
        )
    return path


def test_chat_shows_the_cited_passage(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
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
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server, wait_until="networkidle")
        box = page.locator("#question textarea")
        box.fill("How many deaths is the PKK responsible for?")
        box.press("Enter")
        passage = page.locator("#chat .passage").first
        expect(passage).to_contain_text(
            "over 40,000 civilian and security personnel deaths", timeout=60_000
        )
        expect(page.locator("#chat mark.highlight").first).to_contain_text(
            "responsible for over 40,000"
        )
        expect(page.locator("#chat .citation").first).to_contain_text(
            "Türkiye, US relaunch counterterrorism consultations, ¶7, chars"
        )
        assert page.locator("#chat .answer-passage").count() == 3
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

        box.fill("How do I bake sourdough bread?")
        box.press("Enter")
        expect(page.locator("#chat .not-found").last).to_contain_text(
            "Not in the documents", timeout=60_000
        )
        assert page.locator("#chat .answer-passage").count() == 3  # no passage shown for it
        page.screenshot(path=str(ARTIFACTS / "chat-not-found.png"), full_page=True)

        box.fill("What operations did Ankara launch in northern Syria?")
        box.press("Enter")
        expect(page.locator("#chat .answer-passage")).to_have_count(6, timeout=60_000)
        box.fill("When was the last one?")  # a follow-up: understood from the question before
        box.press("Enter")
        expect(page.locator("#chat .answer-passage")).to_have_count(9, timeout=60_000)
        expect(page.locator("#chat .answer-passage").nth(6)).to_contain_text("Peace Spring (2019)")
        page.screenshot(path=str(ARTIFACTS / "chat-follow-up.png"), full_page=True)
        browser.close()
    assert errors == []


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


def test_document_text_never_runs_in_the_page_and_uploads_work(tmp_path, embedder):
    from playwright.sync_api import expect, sync_playwright

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
    with running_server(index_dir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--headless=new"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url, wait_until="networkidle")
        box = page.locator("#question textarea")
        box.fill("How many megawatts does the reactor deliver?")
        box.press("Enter")
        passage = page.locator("#chat .passage").first
        expect(passage).to_contain_text("<script>window.__xss = 1;", timeout=60_000)
        expect(passage).to_contain_text('<img src=x onerror="window.__xss = 2;')

        page.locator("#documents-panel").get_by_text("Documents: add, list, remove").click()
        page.locator("#upload input[type=file]").set_input_files(str(upload))
        expect(page.locator("#documents-status textarea")).to_have_value(
            "✓ added "
            + str(index_dir.parent / "index-uploads" / "turbine-img-src-x-onerror-alert-5.html"),
            timeout=120_000,
        )
        expect(page.locator("#documents")).to_contain_text("Turbine report")
        box.fill("How many generators are in the turbine hall?")
        box.press("Enter")
        expect(page.locator("#chat")).to_contain_text("four generators", timeout=60_000)
        expect(page.locator("#chat")).to_contain_text("<script>window.__xss=3</script>")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.__xss") is None
        page.screenshot(path=str(ARTIFACTS / "xss-and-upload.png"), full_page=True)
        browser.close()
    assert dialogs == []
