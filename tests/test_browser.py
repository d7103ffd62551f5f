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
