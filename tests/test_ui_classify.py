"""The window's classify view, driven like a person would in real Chromium (Playwright)."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from tessera.server import TesseraServer
from tessera.shells.browsers import COMMON_FLAGS, find_browser, user_flags
from tests.conftest import REPO

SAMPLES = REPO / "assets" / "samples"


@pytest.fixture(scope="module")
def page(webapp_dist, bundled_models):
    with TesseraServer(webapp_dist) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(find_browser()), args=[*COMMON_FLAGS, *user_flags()])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.app_url())
        yield page
        browser.close()
        assert errors == []


def test_page_loads_the_default_model_and_says_which_backend(page):
    expect(page.locator(".status")).to_have_text("EfficientNet-Lite0 (ImageNet-1k) on wasm (software GPU only)",
                                                 timeout=60_000)
    assert page.evaluate("self.crossOriginIsolated") is True


def test_picked_photos_become_cards_with_top5(page, tmp_path):
    page.locator("input[type=file]").set_input_files([SAMPLES / "chelsea.jpg", SAMPLES / "coffee.jpg"])
    cards = page.locator("article.card")
    expect(cards).to_have_count(2, timeout=60_000)
    coffee = cards.filter(has_text="coffee.jpg")
    expect(coffee.locator("li")).to_have_count(5, timeout=60_000)
    expect(coffee.locator("li").first).to_contain_text("espresso")
    chelsea = cards.filter(has_text="chelsea.jpg")
    expect(chelsea.locator("li")).to_have_count(5, timeout=60_000)
    assert any(cat in chelsea.locator("li").nth(i).inner_text()
               for i in range(3) for cat in ("tiger cat", "Egyptian cat", "tabby"))
    expect(coffee.locator(".meta")).to_contain_text("wasm")


def test_a_broken_file_shows_an_error_on_its_card(page, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    page.locator("input[type=file]").set_input_files([bad])
    card = page.locator("article.card").filter(has_text="broken.jpg")
    expect(card.locator(".error")).to_contain_text("could not decode", timeout=30_000)


def test_switching_model(page):
    page.locator("header select").select_option("mobilenet-v2")
    page.locator("input[type=file]").set_input_files([SAMPLES / "coffee.jpg"])  # while it loads
    expect(page.locator(".status")).to_have_text("MobileNetV2 (ImageNet-1k) on wasm (software GPU only)",
                                                 timeout=60_000)
    newest = page.locator("article.card").first
    expect(newest.locator("h2")).to_have_text("coffee.jpg")
    expect(newest.locator("li").first).to_contain_text("espresso", timeout=60_000)
    expect(newest.locator(".error")).to_have_count(0)


def test_wasm_inference_runs_off_the_main_thread(page):
    """onnxruntime's proxy worker (its own module as a worker script) hosts the wasm sessions,
    so a slow CPU inference can't freeze the window; its thread pool alone would not."""
    expect(page.locator("article.card").first).to_be_visible(timeout=60_000)
    assert any(w.url.endswith("/vendor/ort/ort.webgpu.min.mjs") for w in page.workers), \
        [w.url for w in page.workers]
