"""The app's views in real Chromium (Playwright): sidebar, banner from the adapter report,
folders through the dialog API, keyboard and copy, exports into an output folder, diagnostics,
models, a 10,000-photo folder in the virtualised list. Screenshots of each view, in the light
and the dark colour scheme, land in build/screenshots/ for a person to look at."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import shutil

import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera import __version__
from tessera.compiler.package import VERSION
from tessera.shells.banner import wasm_banner
from tests.conftest import REPO
from tests.test_api_models import tiny_classifier
from tests.ui_harness import open_page, running_app, screenshot_both_schemes

SAMPLES = REPO / "assets" / "samples"


@pytest.fixture(scope="module")
def app(webapp_dist, bundled_models, tmp_path_factory):
    with running_app(webapp_dist, tmp_path_factory.mktemp("userdata")) as (server, browser, errors):
        page = open_page(server, browser, errors, permissions=("clipboard-read", "clipboard-write"))
        yield server, page


def test_banner_is_driven_by_the_adapter_the_page_reported(app):
    server, page = app
    report = server.api.adapter_report
    assert report["adapter"] and report["software"]          # SwiftShader in headless Chromium
    expect(page.locator(".banner")).to_have_text(wasm_banner("browser", report))
    screenshot_both_schemes(page, "classify-empty")


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
    thumb = coffee.locator("img").element_handle()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb)
    assert page.evaluate("(img) => img.naturalWidth", thumb) == 256
    expect(page.locator(".view-classify .progress")).to_be_hidden()
    screenshot_both_schemes(page, "classify-results")


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

    # A clipboard the browser refuses is a sentence in the notice, not an uncaught error.
    page.context.clear_permissions()
    page.evaluate("Object.defineProperty(navigator.clipboard, 'writeText', "
                  "{ value: () => Promise.reject(new Error('the clipboard is not available')), configurable: true })")
    cards.first.focus()
    page.keyboard.press("c")
    expect(page.locator(".notice")).to_have_text("Could not copy: the clipboard is not available")
    page.evaluate("delete navigator.clipboard.writeText")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)


def test_export_writes_csv_and_json_into_the_chosen_output_folder_never_overwriting(app, tmp_path):
    server, page = app
    out = tmp_path / "results"
    out.mkdir()
    notice = page.locator(".view-classify .notice")
    server.api.dialogs.next = [out]
    page.get_by_role("button", name="Output folder…").click()
    expect(page.locator(".outputs .folder")).to_have_text("results")
    assert server.api.dialogs.asked[-1] == ("folder", "Choose a folder for Tessera's results")

    stem = f"tessera-results-{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}"
    page.get_by_role("button", name="Export results").click()
    expect(notice).to_have_text(f"Exported 2 results to {stem}.csv and {stem}.json in results.")
    rows = list(csv.DictReader(io.StringIO((out / f"{stem}.csv").read_text())))
    coffee = next(r for r in rows if r["file"] == "coffee.jpg")
    assert coffee["label_1"] == "espresso" and 0.5 < float(coffee["score_1"]) <= 1
    assert coffee["model"] == "efficientnet-lite0" and coffee["backend"] == "wasm" and coffee["error"] == ""
    exported = json.loads((out / f"{stem}.json").read_text())["results"]
    assert sorted(r["file"] for r in exported) == ["chelsea.jpg", "coffee.jpg"]
    assert all(len(r["top"]) == 5 for r in exported)

    first_csv = (out / f"{stem}.csv").read_bytes()
    page.get_by_label("Export format").select_option("CSV")
    page.get_by_role("button", name="Export results").click()
    expect(notice).to_have_text(f"Exported 2 results to {stem} (2).csv in results.")
    assert (out / f"{stem}.csv").read_bytes() == first_csv
    assert sorted(p.name for p in out.iterdir()) == [f"{stem} (2).csv", f"{stem}.csv", f"{stem}.json"]


def test_diagnostics_view_names_adapter_backend_and_advice(app):
    server, page = app
    page.get_by_role("link", name="Diagnostics").click()
    facts = page.locator("table.facts")
    expect(facts.locator("tr", has_text="Tessera")).to_contain_text(__version__)
    expect(facts).to_contain_text("Backend in use")
    expect(facts).to_contain_text("WebAssembly (wasm)")
    expect(facts).to_contain_text("software")
    expect(facts).to_contain_text("shader-f16")
    expect(facts.locator("tr", has_text="subgroups")).to_contain_text(re.compile(r"yes, sizes? \d+|no"))
    expect(facts.locator("tr", has_text="int8 matrix units")).to_contain_text("no")
    expect(page.locator(".advice")).to_contain_text("software adapter")
    screenshot_both_schemes(page, "diagnostics")


def test_models_view_imports_reports_defaults_and_removes(app, tmp_path):
    server, page = app
    page.get_by_role("link", name="Models").click()
    rows = page.locator("table.models tbody tr")
    expect(rows.filter(has_text="efficientnet-lite0")).to_contain_text("default")
    expect(rows.filter(has_text="efficientnet-lite0")).to_contain_text(f"format v{VERSION}")
    bad = tmp_path / "odd.onnx"
    bad.write_bytes(tiny_classifier(op="Hardmax"))
    page.locator(".view-models input[type=file]").set_input_files(bad)
    expect(page.locator(".report .error")).to_contain_text("cannot compile odd", timeout=30_000)
    expect(page.locator(".report li")).to_contain_text("Hardmax")
    screenshot_both_schemes(page, "models")

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

    # a package compiled for one image per call says so under the import's report
    from tests.test_compiler_passes import _cumulative_positions
    positions = _cumulative_positions(tmp_path)
    page.locator(".view-models input[type=file]").set_input_files(positions)
    expect(page.locator(".report .ok")).to_contain_text("Imported positions", timeout=30_000)
    expect(page.locator(".report .meta")).to_contain_text("compiled for one image per call")
    rows.filter(has_text="positions").get_by_role("button", name="Remove").click()
    expect(rows.filter(has_text="positions")).to_have_count(0)
    page.get_by_role("link", name="Classify").click()


def test_a_folder_of_10000_photos_keeps_few_cards_in_the_page(app, tmp_path):
    server, page = app
    big = tmp_path / "big"
    big.mkdir()
    tiny_png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(tiny_png, "PNG")
    for i in range(10_000):
        (big / f"img-{i:05d}.png").write_bytes(tiny_png.getvalue())
    page.get_by_role("button", name="Clear").click()
    server.api.dialogs.next = [big]
    page.get_by_role("button", name="Open folder…").click()
    cards = page.locator("article.card")
    expect(cards.first).to_have_attribute("aria-setsize", "10000", timeout=30_000)
    assert 0 < cards.count() < 100

    cards.first.focus()
    page.keyboard.press("End")
    last = page.locator("article.card:focus")
    expect(last.locator("h2")).to_have_text("img-09999.png")
    expect(last).to_have_attribute("aria-posinset", "10000")
    assert cards.count() < 100
    page.keyboard.press("PageUp")
    expect(page.locator("article.card:focus")).not_to_have_attribute("aria-posinset", "10000")
    page.keyboard.press("Home")
    first = page.locator("article.card:focus")
    expect(first.locator("h2")).to_have_text("img-00000.png")
    # Its result arrived (or arrives) while it was off screen: the card shows it all the same.
    expect(first.locator("li")).to_have_count(5, timeout=30_000)

    # Selection lives in the list, not in the DOM: it survives the card being scrolled away.
    page.keyboard.press("ArrowRight")
    scroller = page.locator(".cards")
    scroller.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    expect(page.locator("article.card h2").filter(has_text="img-09999.png")).to_be_visible()
    scroller.evaluate("(el) => { el.scrollTop = 0; }")
    expect(page.locator("article.card.selected h2")).to_have_text("img-00001.png")

    one_image = page.locator("article.card[aria-posinset='1'] .meta").evaluate("(el) => el.firstChild.textContent")
    jump_ms = scroller.evaluate("""(el) => new Promise((done) => {
        const t0 = performance.now();
        el.scrollTop = el.scrollHeight / 2;
        requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
    })""")
    # The page classifies on its main thread meanwhile (wasm here), so one image's time bounds a frame.
    print(f"\n10,000 photos: {cards.count()} cards in the page; a jump to the middle painted in {jump_ms:.0f} ms "
          f"while classifying (one image: {one_image})")
    # Copy all reaches results whose cards are no longer in the page.
    page.get_by_role("button", name="Copy all").click()
    assert page.evaluate("navigator.clipboard.readText()").startswith("img-00000.png\t")
    page.get_by_role("button", name="Clear").click()    # stops the rest of the folder
    expect(cards).to_have_count(0)


def test_the_output_folder_is_remembered(app):
    server, page = app
    chosen = page.locator(".outputs .folder").inner_text()
    page.reload()
    expect(page.locator(".outputs .folder")).to_have_text(chosen)
    assert chosen == "results"
    # Settled before the module closes the browser: nothing of the page is cut off mid-load.
    expect(page.locator(".view:not([hidden]) .status")).to_contain_text("on wasm", timeout=60_000)
