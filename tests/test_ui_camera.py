"""The camera view in real Chromium, on its synthetic camera (--use-fake-device-for-media-stream):
frames are classified continuously with a moving rate; the camera is released on Stop, when
the view is left and when the window is hidden; a refused or missing camera is one sentence.

Permission prompts are refused (--deny-permission-prompts) except where the test's browser
context grants the camera, so the same browser shows both a user who allowed it and one who
did not."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui_harness import open_page, running_app, screenshot_both_schemes

FLAGS = ("--use-fake-device-for-media-stream", "--deny-permission-prompts")


@pytest.fixture(scope="module")
def camera_app(webapp_dist, bundled_models, tmp_path_factory):
    with running_app(webapp_dist, tmp_path_factory.mktemp("userdata"), flags=FLAGS) as app:
        yield app


@pytest.fixture(scope="module")
def page(camera_app):
    server, browser, errors = camera_app
    return open_page(server, browser, errors, view="camera", permissions=("camera",))


def live_tracks(page) -> int:
    return page.evaluate("() => document.querySelector('.view-camera video').srcObject?.getTracks()"
                         ".filter((t) => t.readyState === 'live').length ?? 0")


def keep_tracks(page) -> None:
    page.evaluate("() => { window.keptTracks = document.querySelector('.view-camera video').srcObject.getTracks(); }")


def kept_tracks_ended(page) -> bool:
    return page.evaluate("() => window.keptTracks.every((t) => t.readyState === 'ended')")


def test_refused_missing_and_busy_cameras_are_explained(camera_app):
    # First, before the module's page turns its camera on.
    server, browser, errors = camera_app
    page = open_page(server, browser, errors, view="camera")        # camera not granted: refused
    notice = page.locator(".stage .message")
    expect(notice).to_contain_text("not allowed to use the camera", timeout=30_000)
    expect(page.get_by_role("button", name="Start")).to_be_enabled()
    screenshot_both_schemes(page, "camera-denied")
    for error, message in [("NotFoundError", "No camera was found"),
                           ("NotReadableError", "in use by another application")]:
        page.evaluate("""(name) => {
            navigator.mediaDevices.getUserMedia = async () => { throw new DOMException('fake', name); };
        }""", error)
        page.get_by_role("button", name="Start").click()
        expect(notice).to_contain_text(message)
    page.context.close()


def test_a_camera_that_starts_before_the_model_list_arrives_waits_for_the_model(camera_app):
    # The model list is held back until the camera has been presenting frames for a while:
    # those frames must wait for the model, not stop the camera with "no model is loaded".
    server, browser, errors = camera_app
    context = browser.new_context()
    context.grant_permissions(["camera"], origin=server.origin)
    held = []
    context.route("**/api/models", lambda route: held.append(route))
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.app_url() + "#camera")
    page.wait_for_function("""() => {
        const video = document.querySelector('.view-camera video');
        const message = document.querySelector('.view-camera .stage .message');
        return video?.currentTime > 0.5 || (message && !message.hidden && message.textContent !== 'Opening the camera…');
    }""", timeout=30_000)
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator(".stage .overlay li")).to_have_count(5, timeout=60_000)
    expect(page.locator(".stage .message")).to_be_hidden()
    context.close()


def test_the_page_may_use_the_camera_and_nothing_else(camera_app, page):
    server, _, _ = camera_app
    policy = page.request.get(server.origin + "/").headers["permissions-policy"]
    assert "camera=(self)" in policy and "microphone=()" in policy
    assert page.evaluate("document.featurePolicy.allowsFeature('camera')")
    assert not page.evaluate("document.featurePolicy.allowsFeature('camera', 'https://example.com')")
    assert not page.evaluate("document.featurePolicy.allowsFeature('microphone')")


def test_frames_are_classified_with_a_top5_overlay_and_a_moving_rate(page):
    overlay = page.locator(".stage .overlay li")
    expect(overlay).to_have_count(5, timeout=60_000)
    fps = page.locator(".stage .fps")
    expect(fps).to_have_text(re.compile(r"^\d+\.\d fps$"), timeout=30_000)
    first = fps.inner_text()
    expect(fps).not_to_have_text(first, timeout=30_000)
    assert live_tracks(page) == 1
    screenshot_both_schemes(page, "camera")


def test_stop_and_leaving_the_view_release_the_camera(page):
    keep_tracks(page)
    page.get_by_role("button", name="Stop").click()
    assert kept_tracks_ended(page)
    expect(page.locator(".stage .overlay li")).to_have_count(0)
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".stage .overlay li")).to_have_count(5, timeout=60_000)

    keep_tracks(page)
    page.get_by_role("link", name="Classify").click()
    page.wait_for_function("() => window.keptTracks.every((t) => t.readyState === 'ended')")
    page.get_by_role("link", name="Camera").click()           # coming back turns it on again
    expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=30_000)
    assert live_tracks(page) == 1


def test_hiding_the_window_releases_the_camera_until_it_is_shown_again(page):
    expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=30_000)
    keep_tracks(page)
    set_hidden = """(hidden) => {
        Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    page.evaluate(set_hidden, True)
    assert kept_tracks_ended(page)
    page.evaluate(set_hidden, False)
    expect(page.get_by_role("button", name="Stop")).to_be_visible(timeout=30_000)
    assert live_tracks(page) == 1
