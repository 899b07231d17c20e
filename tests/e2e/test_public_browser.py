"""The public pages in headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser download): list, search, open a bulletin, the verified badge, a TLP:GREEN bulletin
never shown, the keyboard, a phone's screen, and axe-core's accessibility rules.

Screenshots go to ``$EXCHANGE_TEST_ARTIFACTS`` (default ``var/test-artifacts/``). Without a
Chromium these tests skip, except under CI=true, where they fail (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.conftest import post_objects
from tests.conftest import LiveServer
from tests.web.helpers import note, report

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("EXCHANGE_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))


def chromium_path() -> str | None:
    for candidate in (os.environ.get("EXCHANGE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture
def browser(bulletins: dict[str, dict[str, Any]]) -> Iterator[Browser]:
    """Started after the bulletins are published: Playwright's sync API runs an event loop in
    this thread, where the admin CLI (``asyncio.run``) can no longer run."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "no chromium: .ci/run installs Debian's chromium (apt-get install chromium)"
            )
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_violations(page: Page) -> None:
    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def bulletins(server: LiveServer, make_member: Any) -> dict[str, dict[str, Any]]:
    a = make_member("CERT-A")
    advice = a.sign(note("clear", content="1. Turn on automatic updates.\n2. Keep backups."))
    made = {
        "phishing": a.sign(
            report(
                "Fake parcel-delivery text messages",
                published="2026-11-20T09:00:00.000Z",
                description="Texts claim a parcel is waiting. **Do not** follow the link.",
                labels=["consumers"],
            )
        ),
        "ransomware": a.sign(
            report(
                "Ransomware against small dental practices",
                refs=[advice["id"]],
                published="2026-11-28T09:00:00.000Z",
                report_types=("threat-report",),
                description="## What happens\n\nRemote desktop left open to the internet.\n\n"
                "## What to do\n\nClose RDP, patch, keep offline backups.",
            )
        ),
        "german": a.sign(
            report(
                "Gefälschte Rechnungen per E-Mail",
                published="2026-11-25T09:00:00.000Z",
                description="Öffnen Sie keine Anhänge.",
                lang="de",
            )
        ),
        "green": a.sign(
            report(
                "Members-only GREEN campaign details",
                tlp="green",
                published="2026-11-29T09:00:00.000Z",
            )
        ),
    }
    post_objects(server, a.token, [advice, *made.values()])
    return made


def test_list_search_open_and_verified_badge(
    browser: Browser, server: LiveServer, bulletins: dict[str, dict[str, Any]]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    titles = page.locator("ol.bulletins h2").all_inner_texts()
    assert titles == [
        "Ransomware against small dental practices",
        "Gefälschte Rechnungen per E-Mail",
        "Fake parcel-delivery text messages",
    ]
    assert "GREEN" not in page.content()
    assert (
        page.locator("ol.bulletins .summary")
        .first.inner_text()
        .startswith("What happens Remote desktop")
    )  # a plain-text summary of the Markdown
    assert page.locator("ol.bulletins article[lang=de] h2").inner_text().startswith("Gefälschte")
    shot(page, "public-list")
    no_violations(page)

    page.fill("#q", "parcel")
    page.click("button[type=submit]")
    page.wait_for_url("**/?q=parcel*")
    assert page.locator("ol.bulletins h2").all_inner_texts() == [
        "Fake parcel-delivery text messages"
    ]
    shot(page, "public-search")

    page.fill("#q", "campaign")  # the GREEN bulletin's words find nothing
    page.press("#q", "Enter")
    page.wait_for_url("**/?q=campaign*")
    assert page.locator("ol.bulletins h2").count() == 0
    assert "No bulletins match" in page.inner_text("main")

    page.goto(server.url + "/")
    page.click("text=Ransomware against small dental practices")
    page.wait_for_url(f"**/bulletins/{bulletins['ransomware']['id']}")
    badge = page.locator(".badge.verified")
    assert badge.is_visible() and badge.inner_text() == "✓ Signature verified"
    assert page.locator(".tlp-clear").first.inner_text() == "TLP:CLEAR"
    assert page.locator("h2", has_text="What to do").is_visible()
    assert "Turn on automatic updates" in page.inner_text(".references")
    shot(page, "public-bulletin")
    no_violations(page)

    page.goto(f"{server.url}/bulletins/{bulletins['german']['id']}")
    assert page.locator("html").get_attribute("lang") == "de"
    no_violations(page)

    response = page.goto(f"{server.url}/bulletins/{bulletins['green']['id']}")
    assert response is not None and response.status == 404
    assert "Members-only" not in page.content()
    page.close()


def test_phone_keyboard_and_no_script(
    browser: Browser, server: LiveServer, bulletins: dict[str, dict[str, Any]]
) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.locator("ol.bulletins h2").count() == 3  # works without JavaScript
    shot(page, "public-list-phone")
    page.goto(f"{server.url}/bulletins/{bulletins['ransomware']['id']}")
    shot(page, "public-bulletin-phone")
    context.close()

    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    for path in ("/", f"/bulletins/{bulletins['ransomware']['id']}"):
        page.goto(server.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href') || ''").startswith(
            "/bulletins/"
        ):
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/bulletins/*")
    assert page.locator(".badge.verified").is_visible()
    context.close()
