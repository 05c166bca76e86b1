"""The web app in a real browser: Playwright driving Debian's Chromium (no browser download).

Uploads the garden clip with its disparity sidecar and converts it with the full variant;
checks the single progress display during the run, that Chromium really decodes the result,
that the result's download button gives a decodable video and the stage download a zip of
PNGs, that stage captions are whole and every stage is visible without scrolling inside the
gallery, and that the SBS player is the large one. Saves screenshots of the finished page
(stages, sliders, downloads) under pytest's temporary folder, ``screenshots0/``. Also clicks a
cached example, and checks that a failure is one message in the status line (no toast, no
"Error" badge on every panel).

Chromium is required: without it these tests fail with how to install it, unless
``SPATIALME_SKIP_BROWSER=1`` asks to skip them (``SPATIALME_CHROMIUM`` points elsewhere).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("SPATIALME_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
GARDEN = ROOT / "examples" / "garden.mp4"
GARDEN_DISPARITY = ROOT / "examples" / "garden_disparity.npy"
TIMEOUT_MS = 90_000

pytestmark = [
    # Gradio's start-up note about examples without a sidecar (orbit, stones): intended.
    pytest.mark.filterwarnings("ignore:Examples will be cached but not all input components:UserWarning"),
]
sync_api = pytest.importorskip("playwright.sync_api")

#: Progress displays drawn now (Gradio hides an idle one with the class ``hide``).
VISIBLE_TRACKERS = "[data-testid=status-tracker]:not(.hide)"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        why = (f"Chromium not found at {CHROMIUM}: install it with `sudo apt-get install chromium` (Debian/Ubuntu) "
               "or set SPATIALME_CHROMIUM=PATH; SPATIALME_SKIP_BROWSER=1 skips the browser tests")
        if os.environ.get("SPATIALME_SKIP_BROWSER"):
            pytest.skip(why)
        pytest.fail(why, pytrace=False)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def url(browser, tmp_path_factory, monkeypatch_module):
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
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: ``<pytest basetemp>/screenshots0/``."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
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


def _upload_garden(page, sidecar: bool = True) -> None:
    page.locator("#input-video input[type=file]").set_input_files(str(GARDEN))
    page.locator("#input-video video").wait_for()  # uploaded and previewed
    if sidecar:
        page.get_by_role("button", name=re.compile(r"^Advanced")).click()
        page.locator("#sidecar input[type=file]").set_input_files(str(GARDEN_DISPARITY))
        page.locator("#sidecar").get_by_text("garden_disparity.npy").wait_for()


def _download(page, locator, folder: Path) -> Path:
    """Click ``locator`` and save the file the browser downloads."""
    with page.expect_download() as info:
        locator.click()
    download = info.value
    path = folder / download.suggested_filename
    download.save_as(str(path))
    return path


def test_convert_full_variant_in_the_browser(page, tmp_path, shots):
    from spatialme.video import read_frames

    assert page.locator("#sbs-video").get_by_text("Drop Video Here").count() == 0  # an output, not an upload
    _upload_garden(page)
    page.locator("#convert-button").click()

    # one progress display, in the status line, while the run lasts
    page.locator(VISIBLE_TRACKERS).first.wait_for()
    trackers = page.locator(VISIBLE_TRACKERS)
    assert trackers.count() == 1
    assert page.locator(f"#run-status {VISIBLE_TRACKERS}").count() == 1

    state, width, height, duration, error = _wait_playable(page, "#sbs-video")
    assert (state, width, height, error) == (4, 512, 144, None)
    assert duration == pytest.approx(2.5, abs=0.2)
    assert _wait_playable(page, "#anaglyph-video")[1:3] == [256, 144]
    page.locator("#run-status").get_by_text("Converted 30 frames").wait_for()
    # the depth-budget plot beside the players, loaded
    page.wait_for_function("() => { const i = document.querySelector('#depth-budget img'); return i && i.complete && i.naturalWidth > 0 }")
    assert page.locator("#depth-budget img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [1000, 620]

    # the result downloads and decodes
    saved = _download(page, page.locator("#sbs-video").get_by_role("button", name=re.compile("download", re.I)), tmp_path)
    frames = np.concatenate(list(read_frames(saved)))
    assert frames.shape == (30, 144, 512, 3) and saved.name.endswith("_LR.mp4")

    # every stage, with whole captions, and no inner scrolling
    page.locator("#stage-download").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#stages img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    stages = page.locator("#stages img")
    assert stages.count() == 12  # left, depth, warped, mask, 3 branches, M1-M3, C, final
    assert stages.first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 144]
    captions = page.locator("#stages .caption-label")
    texts = captions.all_inner_texts()
    assert "Depth (as disparity; near = bright)" in texts and "Warped (holes in magenta)" in texts
    assert any(t.startswith("Refiner mask M3, ") and "eq. 3" in t for t in texts)
    cut = captions.evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)"
        ".map(e => e.innerText)"
    )
    assert cut == []
    wrap = page.locator("#stages .grid-wrap").evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert wrap[0] <= wrap[1] + 1  # the third row is not hidden behind a scroll box
    shown = "v => Math.min(v.clientWidth, v.clientHeight * v.videoWidth / v.videoHeight)"  # picture, not box
    sbs_width = page.locator("#sbs-video video").evaluate(shown)
    assert sbs_width > 1.4 * page.locator("#anaglyph-video video").evaluate(shown) and sbs_width > 700

    # the stage pictures download as a zip of PNGs
    archive = _download(page, page.locator("#stage-download"), tmp_path)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        import cv2

        first = cv2.imdecode(np.frombuffer(z.read(names[0]), np.uint8), cv2.IMREAD_COLOR)
    assert len(names) == 12 and first.shape == (144, 256, 3)

    page.screenshot(path=str(shots / "full-variant-page.png"), full_page=True)
    page.locator("#stages").screenshot(path=str(shots / "full-variant-stages.png"))
    page.locator("#frame-slider").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "full-variant-sliders-downloads.png"))
    assert all((shots / n).stat().st_size > 10_000 for n in
               ("full-variant-page.png", "full-variant-stages.png", "full-variant-sliders-downloads.png"))


def test_cached_example_fills_the_results(page):
    page.get_by_text("garden (with disparity sidecar)").click()
    state, width, height, _, error = _wait_playable(page, "#sbs-video")
    assert (state, width, height, error) == (4, 512, 144, None)
    page.locator("#stages img").first.wait_for()


def _status_after_failure(page) -> str:
    """The status line's text once a failed run has been reported there."""
    page.locator("#run-status").get_by_text(re.compile(r"^(Cannot|Depth model)")).first.wait_for()
    return page.locator("#run-status").inner_text()


def test_missing_depth_model_is_one_message_in_the_status_line(page):
    import app
    from spatialme.webapp import messages

    if app.MODELS.depth_model is not None:
        pytest.skip("a depth model is cached on this machine, so the no-model message cannot be produced")
    _upload_garden(page, sidecar=False)
    page.locator("#convert-button").click()
    text = _status_after_failure(page)
    assert text.startswith("Depth model not available.") and messages.DEPTH_MISSING in text
    assert "--" not in text
    page.wait_for_timeout(500)  # anything else the failure would draw is drawn by now
    assert page.locator(".toast-body").count() == 0  # no toast that closes itself
    assert page.locator("[data-testid=status-tracker] .error").count() == 0  # no "Error" badge on any panel


def test_broken_upload_is_named_in_the_status_line(page, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video at all\n" * 50)
    page.locator("#input-video input[type=file]").set_input_files(str(fake))
    page.locator("#input-video video").wait_for(state="attached")
    page.locator("#convert-button").click()
    text = _status_after_failure(page)
    assert "holiday.mp4" in text and "not a video" in text
