"""The static site (build_scripts/build_web.py --static) served by `tessera serve --static`, as
a static host would serve it: byte ranges, the headers of its `_headers` file, and the page in
headless Chromium classifying a photo, then again offline from its service worker's cache, with
no call to the shell's API; a rebuild's new worker replaces the old cache."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tessera.compiler.package import PackageMeta
from tessera.compiler.pipeline import compile_to_folder
from tessera.shells.browsers import COMMON_FLAGS, find_browser, user_flags
from tessera.static_server import parse_headers_file
from tessera.zoo import reference
from tests.conftest import REPO, other_thread
from tests.engine_harness import EnginePage
from tests.test_engine_kernels import gemm_model

SAMPLES = REPO / "assets" / "samples"
BUILD_WEB = REPO / "build_scripts" / "build_web.py"
IMMUTABLE = "public, max-age=31536000, immutable"


def build_site(out: Path, webapp_dist: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILD_WEB), "--static", str(out), "--web-dist", str(webapp_dist), *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory, webapp_dist, bundled_models) -> Path:
    out = tmp_path_factory.mktemp("static") / "site"
    built = build_site(out, webapp_dist)
    assert built.returncode == 0, built.stderr
    assert "MB in all" in built.stdout
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(out: Path, port: int = 0):
    """`tessera serve --static OUT` in its own process, as a user starts it; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tessera", "serve", "--static", str(out), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + proc.stdout.read()
        yield line.split(" at ")[1].split()[0]
    finally:
        os.kill(other_thread(proc.pid), signal.SIGTERM)   # the OS may hand it to any thread
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"tessera serve did not stop on SIGTERM: {proc.communicate()[0][-2000:]}") from None


def get(url: str, **headers: str):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def model_folder(site: Path, name: str) -> Path:
    entry = next(m for m in json.loads((site / "models" / "index.json").read_text()) if m["name"] == name)
    return site / entry["url"]


def test_a_folder_that_is_not_a_static_build_is_refused(tmp_path, webapp_dist):
    (tmp_path / "notes.txt").write_text("mine")
    built = build_site(tmp_path, webapp_dist)
    assert built.returncode == 1
    assert "not a previous static build" in built.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_server_answers_byte_ranges(site):
    shard = model_folder(site, "efficientnet-lite0") / "weights-fp32-000.bin"
    data = shard.read_bytes()
    url_path = shard.relative_to(site).as_posix()
    with serving(site) as url:
        status, headers, body = get(url + url_path, Range="bytes=1000-1999")
        assert (status, headers["Content-Range"], body) == (206, f"bytes 1000-1999/{len(data)}", data[1000:2000])
        status, headers, body = get(url + url_path, Range="bytes=-100")
        assert (status, body) == (206, data[-100:])
        status, headers, _ = get(url + url_path, Range=f"bytes={len(data)}-")
        assert (status, headers["Content-Range"]) == (416, f"bytes */{len(data)}")
        status, headers, body = get(url + url_path)
        assert (status, headers["Accept-Ranges"], len(body)) == (200, "bytes", len(data))
        wasm = get(url + "vendor/ort/ort-wasm-simd-threaded.asyncify.wasm")[1]["Content-Type"]
        assert (wasm, get(url + "manifest.webmanifest")[1]["Content-Type"]) == ("application/wasm", "application/manifest+json")
        assert get(url + "_headers")[0] == 404


def test_headers_file_lists_isolation_and_long_caching_and_the_server_sends_them(site):
    rules = {pattern.pattern: dict(headers) for pattern, headers in parse_headers_file((site / "_headers").read_text())}
    everything = rules["/.*"]          # the "/*" rule
    assert everything["Cross-Origin-Opener-Policy"] == "same-origin"
    assert everything["Cross-Origin-Embedder-Policy"] == "require-corp"
    app_js = next((site / "assets").glob("app-*.js")).relative_to(site).as_posix()
    shard = (model_folder(site, "mobilenet-v2") / "weights-fp16-000.bin").relative_to(site).as_posix()
    with serving(site) as url:
        for path, cache in [("", "no-cache"), ("sw.js", "no-cache"), ("models/index.json", "no-cache"),
                            (app_js, IMMUTABLE), (shard, IMMUTABLE)]:
            headers = get(url + path)[1]
            assert headers["Cache-Control"] == cache, path
            assert headers["Cross-Origin-Embedder-Policy"] == "require-corp", path


def test_engine_loads_a_large_shard_as_parallel_byte_ranges(site, tmp_path):
    """A 10.5 MB weight shard comes as two ranges (the loader's 8 MiB parts) put back in order."""
    model, _ = gemm_model(1, 2560, 1024)
    onnx.save(model, tmp_path / "gemm.onnx")
    package = site / "test-packages" / "gemm"
    package.mkdir(parents=True)
    compile_to_folder(tmp_path / "gemm.onnx", package, PackageMeta(name="gemm", task="other"))
    shard = package / "weights-fp32-000.bin"
    size = shard.stat().st_size
    assert size > 8 << 20
    x = np.random.default_rng(0).standard_normal((1, 2560)).astype(np.float32)
    with serving(site) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(find_browser()), args=[*COMMON_FLAGS, *user_flags()])
        page = browser.new_page()
        answers: list[tuple[int, str | None]] = []
        page.on("response", lambda r: answers.append((r.status, r.request.headers.get("range")))
                if r.url.endswith("/gemm/weights-fp32-000.bin") else None)
        page.goto(url + "?mode=engine-test")
        page.wait_for_function("'tesseraEngine' in window")
        engine = EnginePage(page, site)
        got = engine.run(engine.load("test-packages/gemm/", "fp32"), x)
        browser.close()
    w, b = (onnx.numpy_helper.to_array(t) for t in model.graph.initializer)
    np.testing.assert_allclose(got.reshape(1, -1), x @ w.T + b, rtol=1e-4, atol=1e-4)
    assert sorted(answers, key=str) == [(206, "bytes=0-8388607"), (206, f"bytes=8388608-{size - 1}")]
    assert engine.errors == []


def classify_top1(page: Page, photo: Path) -> str:
    page.locator("input[type=file]").set_input_files([photo])
    card = page.locator("article.card").first
    expect(card.locator("h2")).to_have_text(photo.name)
    expect(card.locator("li")).to_have_count(5, timeout=60_000)
    return card.locator("li .label").first.inner_text()


def check_range_fetches(page: Page, site: Path, shard: Path) -> None:
    """The page's fetches of byte ranges of a shard (what the loader asks) are answered 206 with
    the file's bytes: by the worker, from its cache, once it controls the page."""
    data = shard.read_bytes()
    for asked, first, last in [("bytes=1000-1999", 1000, 1999), (f"bytes=-{len(data) - 8}", 8, len(data) - 1)]:
        answer = page.evaluate("""async ([url, range]) => {
            const res = await fetch(url, { headers: { Range: range } });
            const bytes = new Uint8Array(await res.arrayBuffer());
            return [res.status, res.headers.get('content-range'), bytes.length, Array.from(bytes.slice(0, 16))];
        }""", [shard.relative_to(site).as_posix(), asked])
        assert answer == [206, f"bytes {first}-{last}/{len(data)}", last - first + 1, list(data[first:first + 16])]


def cache_names(page: Page) -> list[str]:
    return page.evaluate("caches.keys()")


def test_site_classifies_offline_without_the_api_and_a_new_deploy_replaces_the_cache(site, webapp_dist):
    photo = SAMPLES / "coffee.jpg"
    expected = reference.classify(model_folder(site, "efficientnet-lite0"), photo, k=1)[0].label
    status_line = ".view:not([hidden]) .status"
    port = free_port()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(find_browser()), args=[*COMMON_FLAGS, *user_flags()])
        context = browser.new_context()
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        with serving(site, port) as url:
            page.goto(url)
            expect(page.locator(status_line)).to_contain_text("EfficientNet-Lite0 (ImageNet-1k) on wasm", timeout=60_000)
            expect(page.locator("nav a")).to_have_text(["Classify", "Camera", "Diagnostics"])
            expect(page.get_by_role("button", name="Open folder…")).to_be_hidden()
            expect(page.get_by_role("button", name="Download results")).to_be_visible()
            assert page.evaluate("self.crossOriginIsolated") is True
            assert classify_top1(page, photo) == expected
            page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
            # A model not precached (not the default) is cached when first used: here by ranges.
            other_shard = model_folder(site, "mobilenet-v2") / "weights-fp32-000.bin"
            check_range_fetches(page, site, other_shard)

        # The server is gone and the browser is offline: everything comes from the worker's cache.
        context.set_offline(True)
        page.reload()
        expect(page.locator(status_line)).to_contain_text("EfficientNet-Lite0 (ImageNet-1k) on wasm", timeout=60_000)
        assert classify_top1(page, photo) == expected
        check_range_fetches(page, site, model_folder(site, "efficientnet-lite0") / "weights-fp32-000.bin")
        check_range_fetches(page, site, other_shard)
        context.set_offline(False)
        assert requests and not [r for r in requests if "/api/" in r]
        old_caches = cache_names(page)
        assert len(old_caches) == 1

        # A new deploy (one model fewer): its worker takes over, says so, and drops the old cache.
        (site / "CNAME").write_text("tessera.example.org\n")            # a file of the user's
        rebuilt = build_site(site, webapp_dist, "--models", "efficientnet-lite0")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert not list((site / "models").glob("mobilenet-v2-*"))        # its own old files go,
        assert (site / "CNAME").read_text() == "tessera.example.org\n"   # the user's stay
        version = json.loads((site / "sw.js").read_text().split(";\n", 1)[0].split(" = ", 1)[1])["version"]
        with serving(site, port):
            page.reload()
            expect(page.locator(".banner")).to_contain_text("new version", timeout=60_000)
            deadline = time.monotonic() + 30
            while cache_names(page) != [f"tessera-{version}"] and time.monotonic() < deadline:
                time.sleep(0.5)
            assert cache_names(page) == [f"tessera-{version}"] != old_caches
            page.reload()
            expect(page.locator("header select").first.locator("option")).to_have_count(1, timeout=30_000)
        browser.close()
    assert errors == []
