"""The Batch view in real Chromium (Playwright): a folder picked in the (faked) dialog runs
through the shell's batch runner with this page classifying on the shared model session; every
file's outcome is listed, bad files with their reason; the CSV export lands in the chosen output
folder with each file once; a rerun finds everything already done; Pause holds the job and
Resume finishes it; Cancel ends it after the batch in flight. Light and dark screenshots go to
build/screenshots/."""

from __future__ import annotations

import csv
import time

import pytest
from playwright.sync_api import expect

from tessera.jobs import app_batch
from tests.test_batch_decode import png_header_only
from tests.test_cli_batch import write_noise_images
from tests.ui_harness import open_page, running_app, screenshot_both_schemes


@pytest.fixture(scope="module")
def app(webapp_dist, bundled_models, tmp_path_factory):
    with running_app(webapp_dist, tmp_path_factory.mktemp("userdata")) as (server, browser, errors):
        yield server, open_page(server, browser, errors, view="batch")


def pick_only(server, page, folder, *, export_into=None):
    """Replace the job's folders with this one, chosen in the dialog; a CSV export into
    export_into (chosen in the dialog too), or none."""
    view = page.locator(".view-batch")
    for remove in view.locator(".chip-remove").all():
        remove.click()
    server.api.dialogs.next = [folder]
    view.get_by_role("button", name="Add folder…").click()
    expect(view.locator(".chip")).to_have_text(folder.name + "×")
    view.get_by_label("CSV").set_checked(export_into is not None)
    if export_into is not None:
        export_into.mkdir(exist_ok=True)
        server.api.dialogs.next = [export_into]
        view.get_by_role("button", name="Output folder…").click()
        expect(view.locator(".output-choice .folder").last).to_have_text(export_into.name)


def start_and_wait_for_summary(page, text: str):
    page.locator(".view-batch").get_by_role("button", name="Start").click()
    expect(page.locator(".batch-summary p").first).to_contain_text(text, timeout=60_000)


def test_a_folder_runs_through_the_store_with_every_outcome_listed_and_exported(app, tmp_path):
    server, page = app
    photos = tmp_path / "holiday"
    write_noise_images(photos, 4)
    (photos / "corrupt.png").write_bytes(png_header_only(64, 48))
    (photos / "notes.jpg").write_text("a text file named like a photo")
    view = page.locator(".view-batch")
    pick_only(server, page, photos, export_into=tmp_path / "results")

    start_and_wait_for_summary(page, "Finished: 4 classified · 0 already done · 2 failed · 0 skipped.")
    rows = view.locator(".batch-row")
    expect(rows).to_have_count(6)
    failed = rows.filter(has_text="corrupt.png")
    expect(failed.locator(".outcome")).to_have_text("failed")
    expect(failed.locator(".detail")).to_contain_text("corrupt")
    expect(rows.filter(has_text="notes.jpg").locator(".outcome")).to_have_text("failed")
    expect(rows.filter(has_text="img000.jpg").locator(".detail")).to_contain_text("%")
    expect(view.locator(".batch-controls progress")).to_have_attribute("value", "6")
    export = server.api.batch_jobs.latest.exports[0]
    expect(view.locator(".batch-summary")).to_contain_text(f"Results exported to {export.name} in results.")
    with open(export, newline="") as f:
        exported = sorted(r["path"] for r in csv.DictReader(f))
    assert exported == sorted(str(p) for p in photos.iterdir())
    screenshot_both_schemes(page, "batch-finished")

    # The same folder again: the results store already has every file, errors included.
    start_and_wait_for_summary(page, "Finished: 0 classified · 6 already done · 0 failed · 0 skipped.")
    expect(rows.filter(has_text="corrupt.png").locator(".detail")).to_contain_text("failed before: ")


def test_pause_holds_the_job_and_resume_finishes_it(app, tmp_path):
    server, page = app
    photos = tmp_path / "many"
    total = 4 * app_batch.BATCH_SIZE
    write_noise_images(photos, total, start=100)
    view = page.locator(".view-batch")
    pick_only(server, page, photos)
    view.get_by_role("button", name="Start").click()
    # As soon as it can be: tiny photos are classified quickly, even on wasm.
    expect(view.get_by_role("button", name="Pause")).to_be_enabled()
    view.get_by_role("button", name="Pause").click()
    expect(view.locator(".batch-progress")).to_contain_text("paused", timeout=30_000)
    screenshot_both_schemes(page, "batch-paused")
    job = server.api.batch_jobs.latest
    time.sleep(0.5)       # the last results posted before the pause are being recorded
    held = job.progress.count
    time.sleep(1.5)
    assert job.progress.count == held < total and job.running
    view.get_by_role("button", name="Resume").click()
    expect(view.locator(".batch-summary p").first).to_contain_text(f"Finished: {total} classified", timeout=60_000)


def test_cancel_ends_after_the_batch_in_flight_with_the_exports_written(app, tmp_path):
    server, page = app
    photos = tmp_path / "more"
    write_noise_images(photos, 3 * app_batch.BATCH_SIZE, start=200)
    view = page.locator(".view-batch")
    pick_only(server, page, photos, export_into=tmp_path / "exports")
    view.get_by_role("button", name="Start").click()
    expect(view.get_by_role("button", name="Cancel")).to_be_enabled()
    view.get_by_role("button", name="Cancel").click()
    expect(view.locator(".batch-summary p").first).to_contain_text("Cancelled: ", timeout=60_000)
    job = server.api.batch_jobs.latest
    assert job.error is None and job.counts["classified"] < 3 * app_batch.BATCH_SIZE
    assert job.counts["classified"] % app_batch.BATCH_SIZE == 0       # whole batches only
    with open(job.exports[0], newline="") as f:
        assert len(list(csv.DictReader(f))) == job.counts["classified"]
    expect(view.get_by_role("button", name="Start")).to_be_enabled()
