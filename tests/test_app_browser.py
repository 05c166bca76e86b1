"""The web app in a real browser: Playwright driving Debian's Chromium (no browser download).

Uploads the garden clip with its disparity sidecar, converts it, checks that Chromium
really decodes the resulting video and loads a stage picture, saves a screenshot, clicks a
cached example, and checks that a broken upload ends in an error toast.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
GARDEN = ROOT / "examples" / "garden.mp4"
GARDEN_DISPARITY = ROOT / "examples" / "garden_disparity.npy"
TIMEOUT_MS = 90_000

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium not installed: apt-get install chromium"),
    # Gradio's start-up note about examples without a sidecar (orbit, stones): intended.
    pytest.mark.filterwarnings("ignore:Examples will be cached but not all input components:UserWarning"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def url(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path_factory.mktemp("examples-cache")))
    import app

    demo = app.build_demo()
    demo.queue(**app.QUEUE_OPTIONS).launch(
        prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, ssr_mode=False, css=app.CSS, **app.LAUNCH_OPTIONS
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#convert-button").wait_for()
    try:
        yield page
    finally:
        context.close()


def _wait_playable(page, selector: str) -> list:
    """Wait until the ``<video>`` under ``selector`` can play through; returns its state."""
    video = page.locator(f"{selector} video")
    video.wait_for(state="attached")
    page.wait_for_function(
        "sel => { const v = document.querySelector(sel + ' video'); return v && v.readyState === 4; }",
        arg=selector, timeout=TIMEOUT_MS,
    )
    return video.evaluate("v => [v.readyState, v.videoWidth, v.videoHeight, v.duration, v.error]")


def test_convert_with_sidecar_in_the_browser(page, tmp_path):
    page.locator("#input-video input[type=file]").set_input_files(str(GARDEN))
    page.locator("#input-video video").wait_for()  # uploaded and previewed
    page.get_by_role("button", name=re.compile(r"^Advanced")).click()
    page.locator("#sidecar input[type=file]").set_input_files(str(GARDEN_DISPARITY))
    page.locator("#sidecar").get_by_text("garden_disparity.npy").wait_for()
    page.locator("#convert-button").click()

    state, width, height, duration, error = _wait_playable(page, "#sbs-video")
    assert (state, width, height, error) == (4, 512, 144, None)
    assert duration == pytest.approx(2.5, abs=0.2)
    assert _wait_playable(page, "#anaglyph-video")[1:3] == [256, 144]

    stage = page.locator("#stages img").first
    stage.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#stages img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    assert stage.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 144]
    shot = tmp_path / "spatialme-app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_cached_example_fills_the_results(page):
    page.get_by_text("garden (with disparity sidecar)").click()
    state, width, height, _, error = _wait_playable(page, "#sbs-video")
    assert (state, width, height, error) == (4, 512, 144, None)
    page.locator("#stages img").first.wait_for()


def test_broken_upload_shows_an_error_toast(page, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video at all\n" * 50)
    page.locator("#input-video input[type=file]").set_input_files(str(fake))
    page.locator("#input-video video").wait_for(state="attached")
    page.locator("#convert-button").click()
    toast = page.locator(".toast-body", has_text="holiday.mp4").first  # the player's own toast may come first
    toast.wait_for()
    text = toast.inner_text()
    assert "not a video" in text
