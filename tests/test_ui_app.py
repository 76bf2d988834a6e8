"""The app's views in real Chromium (Playwright): sidebar, banner from the adapter report,
folders through the dialog API, keyboard and copy, diagnostics, models. Screenshots of each
view land in build/screenshots/ for a person to look at."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from tessera.server import TesseraServer
from tessera.shells.banner import wasm_banner
from tessera.shells.browsers import COMMON_FLAGS, find_browser
from tests.api_client import FakeDialogs
from tests.conftest import REPO
from tests.test_api_models import tiny_classifier

SAMPLES = REPO / "assets" / "samples"
SHOTS = REPO / "build" / "screenshots"


@pytest.fixture(scope="module")
def app(webapp_dist, bundled_models, tmp_path_factory):
    data = tmp_path_factory.mktemp("userdata")
    mp = pytest.MonkeyPatch()
    mp.setenv("TESSERA_DATA_DIR", str(data))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with TesseraServer(webapp_dist) as server, sync_playwright() as pw:
        server.api.dialogs = FakeDialogs()
        browser = pw.chromium.launch(executable_path=str(find_browser()), args=COMMON_FLAGS)
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.app_url())
        expect(page.locator(".status")).to_contain_text("on wasm", timeout=60_000)
        yield server, page
        browser.close()
        mp.undo()
        assert errors == []


def test_banner_is_driven_by_the_adapter_the_page_reported(app):
    server, page = app
    report = server.api.adapter_report
    assert report["adapter"] and report["software"]          # SwiftShader in headless Chromium
    expect(page.locator(".banner")).to_have_text(wasm_banner("browser", report))
    page.screenshot(path=SHOTS / "classify-empty.png")


def test_open_folder_classifies_it_with_server_thumbnails(app, tmp_path):
    server, page = app
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["coffee.jpg", "chelsea.jpg"]:
        shutil.copy(SAMPLES / name, photos / name)
    server.api.dialogs.next = [photos]
    page.get_by_role("button", name="Open folder…").click()
    cards = page.locator("article.card")
    coffee = cards.filter(has_text="coffee.jpg")
    expect(coffee.locator("li").first).to_contain_text("espresso", timeout=60_000)
    expect(cards.filter(has_text="chelsea.jpg").locator("li")).to_have_count(5, timeout=60_000)
    assert "api/thumbs/" in coffee.locator("img").get_attribute("src")
    assert page.evaluate("(img) => img.naturalWidth", coffee.locator("img").element_handle()) == 256
    page.screenshot(path=SHOTS / "classify-folder.png")


def test_keyboard_moves_between_cards_and_copies_results(app):
    server, page = app
    cards = page.locator("article.card")
    cards.first.focus()
    page.keyboard.press("ArrowRight")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("Home")
    expect(cards.first).to_be_focused()
    page.keyboard.press("c")
    expect(page.locator(".notice")).to_have_text("Copied 1 result.")
    copied = page.evaluate("navigator.clipboard.readText()")
    name = cards.first.locator("h2").inner_text()
    assert copied.startswith(name + "\t") and copied.count("%") == 5
    page.get_by_role("button", name="Copy all").click()
    assert page.evaluate("navigator.clipboard.readText()").count("\n") == cards.count() - 1


def test_diagnostics_view_names_adapter_backend_and_advice(app):
    server, page = app
    page.get_by_role("link", name="Diagnostics").click()
    facts = page.locator("table.facts")
    expect(facts).to_contain_text("Backend in use")
    expect(facts).to_contain_text("WebAssembly (wasm)")
    expect(facts).to_contain_text("software")
    expect(facts).to_contain_text("shader-f16")
    expect(page.locator(".advice")).to_contain_text("software adapter")
    page.screenshot(path=SHOTS / "diagnostics.png", full_page=True)


def test_models_view_imports_reports_defaults_and_removes(app, tmp_path):
    server, page = app
    page.get_by_role("link", name="Models").click()
    rows = page.locator("table.models tbody tr")
    expect(rows.filter(has_text="efficientnet-lite0")).to_contain_text("default")
    bad = tmp_path / "odd.onnx"
    bad.write_bytes(tiny_classifier(op="Hardmax"))
    page.locator(".view-models input[type=file]").set_input_files(bad)
    expect(page.locator(".report .error")).to_contain_text("cannot compile odd", timeout=30_000)
    expect(page.locator(".report li")).to_contain_text("Hardmax")
    page.screenshot(path=SHOTS / "models-import-error.png", full_page=True)

    good = tmp_path / "tiny.onnx"
    good.write_bytes(tiny_classifier())
    page.locator(".view-models input[type=file]").set_input_files(good)
    expect(page.locator(".report .ok")).to_contain_text("Imported tiny", timeout=30_000)
    tiny = rows.filter(has_text="tiny")
    tiny.get_by_role("button", name="Make default").click()
    expect(tiny).to_contain_text("default")
    expect(page.locator(".view-classify header select option[value=tiny]")).to_have_count(1)
    tiny.get_by_role("button", name="Remove").click()
    expect(rows.filter(has_text="tiny")).to_have_count(0)
    expect(rows.filter(has_text="efficientnet-lite0")).to_contain_text("default")
    page.get_by_role("link", name="Classify").click()
