"""The web app through its public API: a launched demo driven by ``gradio_client``, in-process.

No network and no cached depth model here (``HF_HUB_OFFLINE=1``), which is exactly the
situation the app must explain; the garden example's disparity sidecar converts without it.
Library-side helpers of the app (:mod:`spatialme.webapp`) are tested directly below.
"""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio_client")

# Gradio's start-up note about examples without a sidecar (orbit, stones): intended.
pytestmark = pytest.mark.filterwarnings("ignore:Examples will be cached but not all input components:UserWarning")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from spatialme import webapp as support  # noqa: E402
from spatialme.video import VideoWriter, probe, read_frames, write_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GARDEN = ROOT / "examples" / "garden.mp4"
GARDEN_DISPARITY = ROOT / "examples" / "garden_disparity.npy"
W, H, FRAMES = 256, 144, 30  # the garden clip


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


@pytest.fixture(scope="module")
def client(app_module):
    demo = app_module.build_demo()
    demo.queue(**app_module.QUEUE_OPTIONS).launch(
        prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, ssr_mode=False, **app_module.LAUNCH_OPTIONS
    )
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def _decode(path) -> np.ndarray:
    """Every frame of a returned video (``(T, H, W, 3)``)."""
    return np.concatenate(list(read_frames(path)))


def _no_depth(app_module) -> None:
    if app_module.MODELS.depth_model is not None:
        pytest.skip("a depth model is cached on this machine, so the no-model message cannot be produced")


# --------------------------------------------------------------------------- convert


def test_convert_with_sidecar_returns_playable_stereo_and_stages(client):
    out = client.predict(video=handle_file(GARDEN), sidecar=handle_file(GARDEN_DISPARITY), variant="poly", api_name="/convert")
    main, sbs, anaglyph, pictures, summary, budget, caption, stages, left_right, branch_pair, branch, stage_zip, frame = out
    assert main is None and not pictures  # full SBS is the default: shown once
    assert Path(budget).suffix == ".png"  # the depth-budget plot beside the results
    assert "strength as in the sidecar's pixels" in summary  # a disparity sidecar is used as it is
    info = probe(sbs)
    assert (info.width, info.height, info.frames, info.has_audio) == (2 * W, H, FRAMES, True)
    sbs_frames = _decode(sbs)
    assert sbs_frames.shape == (FRAMES, H, 2 * W, 3)
    assert _decode(anaglyph).shape == (FRAMES, H, W, 3)
    assert "30 frames" in summary and "sidecar" in summary
    captions = [item["caption"] for item in stages]
    assert captions[0] == "Left view (input)" and captions[-1] == "Final right view"
    assert any("Depth" in c for c in captions) and any("holes in magenta" in c for c in captions)
    assert "Poly branch" in captions
    assert all(item["image"].endswith(".png") for item in stages)  # lossless depth maps and masks
    assert all(Path(p).suffix == ".png" for p in left_right + branch_pair)
    assert branch == "Warped (holes in magenta)"  # the Poly branch is the final view itself
    assert frame == 0 and "frame 1 of 8" in caption
    _check_stage_zip(stage_zip, captions)


def _check_stage_zip(path, captions) -> None:
    """The stage download holds one decodable PNG per gallery picture, named in gallery order."""
    import zipfile

    import cv2

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert len(names) == len(captions) and names[0] == "01_left_view.png"
        assert names[-1].endswith("_final_right_view.png")
        picture = cv2.imdecode(np.frombuffer(archive.read(names[0]), np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (H, W, 3)


def test_convert_other_format_window_and_plain_video(client):
    out = client.predict(
        video=handle_file(GARDEN), sidecar=handle_file(GARDEN_DISPARITY), fmt="half-sbs", start=1.0, max_seconds=1.0,
        api_name="/convert",
    )
    frames = _decode(out[0])
    assert frames.shape == (12, H, W, 3)  # 1 s at 12 fps, half SBS keeps the input size
    assert _decode(out[1]).shape == (12, H, 2 * W, 3)
    assert "12 frames" in out[4]


def test_convert_photo_returns_images(client, tmp_path):
    frame = next(read_frames(GARDEN, max_frames=1))[0]
    photo = tmp_path / "still.png"
    write_image(photo, frame)
    sidecar = tmp_path / "still_disparity.npy"
    np.save(sidecar, np.load(GARDEN_DISPARITY)[:1].astype(np.float32))
    out = client.predict(
        video=None, image=handle_file(photo), sidecar=handle_file(sidecar), fmt="anaglyph", api_name="/convert"
    )
    assert out[:3] == (None, None, None)
    pictures = out[3]
    assert [p["caption"] for p in pictures] == ["Anaglyph red-cyan (Dubois)", "Side-by-side"]
    from spatialme.video import read_image

    assert read_image(pictures[0]["image"]).shape == (H, W, 3)
    assert read_image(pictures[1]["image"]).shape == (H, 2 * W, 3)


def test_convert_without_sidecar_explains_the_missing_depth_model(app_module, client):
    _no_depth(app_module)
    with pytest.raises(AppError) as err:
        client.predict(video=handle_file(GARDEN), api_name="/convert")
    message = str(err.value)
    assert message == support.messages.DEPTH_MISSING  # the visitor's terms: what to do on this page
    assert "'Advanced'" in message and "'garden'" in message
    assert "--" not in message and "HF_HUB" not in message and ".npy" not in message  # no CLI flags or internals


def test_invalid_upload_is_rejected_with_a_reason(client, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    with pytest.raises(AppError) as err:
        client.predict(video=handle_file(fake), sidecar=handle_file(GARDEN_DISPARITY), api_name="/convert")
    assert "notes.mp4" in str(err.value)
    with pytest.raises(AppError) as err:  # without a sidecar the broken file is still named first
        client.predict(video=handle_file(fake), api_name="/convert")
    assert "notes.mp4" in str(err.value)


def test_unavailable_variant_is_a_clear_error(app_module, client, monkeypatch, tmp_path):
    from spatialme import StereoPipeline

    # the status of a build without learned weights (an empty weights folder), as the app computes it
    status = support.variant_status(StereoPipeline.from_pretrained(tmp_path))
    assert status["poly"] is None and all(status[v] for v in ("dl", "dl+de", "full"))
    monkeypatch.setitem(app_module.VARIANT_STATUS, "full", status["full"])
    with pytest.raises(AppError) as err:
        client.predict(
            video=handle_file(GARDEN), sidecar=handle_file(GARDEN_DISPARITY), variant="full", api_name="/convert"
        )
    assert str(err.value).startswith("The Full (MHFU refiner) variant cannot run on this server")
    assert "Choose Poly" in str(err.value) and "variant=" not in str(err.value)


def test_missing_input_is_a_clear_error(client):
    with pytest.raises(AppError, match="Upload a video"):
        client.predict(video=None, api_name="/convert")


def _components(demo) -> dict[str, dict]:
    """The page's components by ``elem_id`` (those that have one), as the browser receives them."""
    return {c["props"]["elem_id"]: c for c in demo.config["components"] if c.get("props", {}).get("elem_id")}


def test_result_players_are_output_only_with_downloads(app_module):
    demo = app_module.build_demo()
    components = _components(demo)
    for elem_id in ("sbs-video", "anaglyph-video", "result-video"):
        props = components[elem_id]["props"]
        assert props["interactive"] is False, elem_id  # no "Drop Video Here", no trim/upload/camera
        assert "download" in props["buttons"], elem_id
    assert components["depth-budget"]["props"]["interactive"] is False  # the plot, beside the players
    for elem_id in ("result-pictures", "stages"):
        props = components[elem_id]["props"]
        assert props["interactive"] is False and "download" in props["buttons"], elem_id
    assert components["stage-download"]["type"] == "downloadbutton"


def test_every_event_shows_progress_in_one_place(app_module):
    demo = app_module.build_demo()
    components = _components(demo)
    status = components["run-status"]["id"]
    by_id = {c["id"]: c["props"].get("elem_id") for c in demo.config["components"]}
    dependencies = demo.config["dependencies"]
    convert = next(d for d in dependencies if d["api_name"] == "convert")
    assert convert["show_progress_on"] == [status] and len(convert["outputs"]) > 10
    evaluate = next(d for d in dependencies if d["api_name"] == "evaluate")
    assert [by_id[i] for i in evaluate["show_progress_on"]] == ["eval-status"]
    for dep in dependencies:
        if dep["show_progress"] == "hidden" or len(dep["outputs"]) <= 1:
            continue
        # every event with several outputs (the example cache too) draws one progress display
        assert dep["show_progress_on"] is not None and len(dep["show_progress_on"]) == 1, dep["api_name"]


def test_visitor_messages_name_the_page_not_the_code():
    from spatialme.depth import DepthModelUnavailable
    from spatialme.pipeline import VariantUnavailable
    from spatialme.video import VideoError

    messages = support.messages
    title, text = messages.visitor_message(DepthModelUnavailable("Depth model x is not cached ... --disparity FILE.npy."))
    assert (title, text) == ("Depth model not available", messages.DEPTH_MISSING)
    title, text = messages.visitor_message(ValueError("max_seconds: expected (0, 30] seconds, got 45.0"))
    assert text == "Max seconds: expected (0, 30] seconds, got 45.0."
    title, text = messages.visitor_message(VariantUnavailable("variant: 'dl' is unavailable: no weights; use variant='poly'"))
    assert title == "Variant not available" and text.startswith("The DL variant cannot run") and "variant=" not in text
    title, text = messages.visitor_message(VideoError("holiday.mp4: not a video (no video stream)"))
    assert (title, text) == ("Cannot use this file", "holiday.mp4: not a video (no video stream).")


def test_page_is_served(client):
    import httpx

    page = httpx.get(client.src, timeout=10)
    assert page.status_code == 200 and "SpatialMe" in page.text


# --------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def sbs_clip(tmp_path_factory) -> Path:
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures

    scene = render_scene(load_textures(), SceneConfig(height=96, width=128, frames=6, max_disparity=6.0), seed=5)
    path = tmp_path_factory.mktemp("stereo") / "pair_LR.mp4"
    with VideoWriter(path, 12, crf=12) as writer:
        writer.write(np.concatenate([scene.left, scene.right], axis=2))
    return path


def test_evaluate_scores_a_side_by_side_clip(client, sbs_clip):
    table, maps, summary = client.predict(stereo=handle_file(sbs_clip), api_name="/evaluate")
    headers, rows = table["headers"], table["data"]
    assert headers[:4] == ["method", "MAE", "PSNR", "SSIM"]
    by_method = {row[0]: dict(zip(headers[1:], row[1:])) for row in rows}
    assert "poly" in by_method and "telea" in by_method
    poly = by_method["poly"]
    assert 0 <= poly["MAE"] < 0.2 and poly["PSNR"] > 15 and 0 < poly["SSIM"] <= 1
    assert maps and all(item["image"].endswith(".png") for item in maps)
    assert "6 frame(s)" in summary


def test_evaluate_from_two_files(client, sbs_clip, tmp_path):
    frames = _decode(sbs_clip)
    left, right = tmp_path / "l.mp4", tmp_path / "r.mp4"
    for path, view in ((left, frames[:, :, :128]), (right, frames[:, :, 128:])):
        with VideoWriter(path, 12, crf=12) as writer:
            writer.write(view)
    table, _, _ = client.predict(stereo=None, left=handle_file(left), right=handle_file(right), api_name="/evaluate")
    assert table["data"][0][0] == "poly" and math.isfinite(table["data"][0][1])


# --------------------------------------------------------------------------- library side


def test_plan_downscales_with_a_note_and_scales_the_sidecar(tmp_path):
    limits = support.AppLimits(work_side=128)
    job = support.plan_conversion(
        GARDEN, sidecar=GARDEN_DISPARITY, max_seconds=1.0, start=0.5, limits=limits, root=tmp_path
    )
    assert (job.width, job.height, job.frames, job.start) == (128, 72, 12, 0.0)
    assert any("downscaled to 128x72" in n for n in job.notes) and any("Converting 1.0 s" in n for n in job.notes)
    copy = probe(job.input_path)
    assert (copy.width, copy.height, copy.frames, copy.has_audio) == (128, 72, 12, True)
    disp = np.load(job.disparity_path)
    original = np.load(GARDEN_DISPARITY)[6:18].astype(np.float32)
    assert disp.shape == (12, 72, 128)
    assert disp.max() == pytest.approx(original.max() / 2, rel=0.05)  # pixels shrink with the width
    pickle.loads(pickle.dumps(job))  # crosses the ZeroGPU boundary


def test_plan_rejects_too_long_and_mismatched_sidecars(tmp_path):
    with pytest.raises(ValueError, match="too long"):
        short = support.AppLimits(max_upload_seconds=1.0, max_convert_seconds=1.0)
        support.plan_conversion(GARDEN, sidecar=GARDEN_DISPARITY, limits=short, max_seconds=1.0, root=tmp_path)
    bad = tmp_path / "square.npy"
    np.save(bad, np.zeros((30, 100, 100), np.float32))
    with pytest.raises(ValueError, match="aspect ratio"):
        support.plan_conversion(GARDEN, sidecar=bad, root=tmp_path)
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((5, H, W), np.float32))
    with pytest.raises(ValueError, match="5 frames"):
        support.plan_conversion(GARDEN, sidecar=short, root=tmp_path)


@pytest.mark.parametrize("kind", ["nearness", "distance"])
def test_depth_sidecar_maps_to_the_chosen_disparity_range(tmp_path, kind):
    truth = np.load(GARDEN_DISPARITY).astype(np.float32)[:12] + 1.0
    depth = truth if kind == "nearness" else 1.0 / truth
    path = tmp_path / "depth.npy"
    np.save(path, depth)
    job = support.plan_conversion(
        GARDEN, sidecar=path, sidecar_kind=kind, divergence=4.0, convergence=0.0, max_seconds=1.0, root=tmp_path
    )
    disp = np.load(job.disparity_path)
    assert disp.shape == (12, H, W)
    assert disp.min() == pytest.approx(0.0, abs=1e-3)
    assert disp.max() == pytest.approx(0.04 * W, rel=1e-3)  # divergence 4 % of the width
    near = np.unravel_index(np.argmax(truth[0]), truth[0].shape)
    assert disp[0][near] == pytest.approx(disp[0].max(), rel=0.05)  # nearest stays nearest


def test_depth_sidecar_as_npz_matches_the_npy(tmp_path):
    truth = np.load(GARDEN_DISPARITY).astype(np.float32)[:12] + 1.0
    np.save(tmp_path / "depth.npy", truth)
    np.savez_compressed(tmp_path / "depth.npz", depth=truth)
    plans = [support.plan_conversion(GARDEN, sidecar=tmp_path / name, sidecar_kind="nearness", max_seconds=1.0,
                                     root=tmp_path / name[-3:]) for name in ("depth.npy", "depth.npz")]
    np.testing.assert_array_equal(np.load(plans[0].disparity_path), np.load(plans[1].disparity_path))


def test_photo_takes_a_two_dimensional_disparity(tmp_path):
    frame = next(read_frames(GARDEN, max_frames=1))[0]
    photo = tmp_path / "still.png"
    write_image(photo, frame)
    still = np.load(GARDEN_DISPARITY)[0].astype(np.float32)
    np.save(tmp_path / "still.npy", still)
    job = support.plan_conversion(photo, sidecar=tmp_path / "still.npy", root=tmp_path)
    assert job.disparity_path != str(tmp_path / "still.npy")  # rewritten as (1, H, W) for the pipeline
    disp = np.load(job.disparity_path)
    assert disp.shape == (1, H, W)
    np.testing.assert_array_equal(disp[0], still)


def test_depth_sidecar_as_grey_video(tmp_path):
    truth = np.load(GARDEN_DISPARITY).astype(np.float32)[:12]
    grey = np.round(255 * (truth - truth.min()) / np.ptp(truth)).astype(np.uint8)
    path = tmp_path / "depth.mp4"
    with VideoWriter(path, 12, crf=0) as writer:
        writer.write(np.repeat(grey[..., None], 3, axis=3))
    job = support.plan_conversion(GARDEN, sidecar=path, sidecar_kind="nearness", max_seconds=1.0, root=tmp_path)
    disp = np.load(job.disparity_path)
    corr = np.corrcoef(disp.ravel(), truth.ravel())[0, 1]
    assert corr > 0.95


def test_gpu_seconds_grows_with_the_clip_and_is_clamped():
    def job(frames, width, height, disparity=None, variant="poly"):
        return support.ConvertJob(
            job_id="0" * 32, folder="/tmp", input_path="x.mp4", source_name="x.mp4", is_image=False, start=0.0,
            frames=frames, fps=30.0, width=width, height=height, disparity_path=disparity, fmt="full-sbs",
            outputs={}, variant=variant, divergence=2.0, convergence=0.5, depth_size=None, inspect=8,
        )

    small, large = support.gpu_seconds(job(30, 256, 144)), support.gpu_seconds(job(300, 1280, 720))
    assert 20 <= small < large <= 300
    assert support.gpu_seconds(job(300, 1280, 720, "d.npy")) < large  # no depth model to run
    assert support.gpu_seconds(job(100_000, 1280, 720)) == 300
    # the full variant's measured cost per megapixel is above Poly's
    assert support.gpu_seconds(job(150, 1280, 720, variant="full")) > support.gpu_seconds(job(150, 1280, 720))


def test_stage_pictures():
    disp = np.linspace(0, 8, 12, dtype=np.float32).reshape(3, 4)
    colour = support.colorize_disparity(disp, 0.0, 8.0)
    assert colour.shape == (3, 4, 3) and colour.dtype == np.uint8
    assert colour[2, 3].sum() > colour[0, 0].sum()  # near is bright
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    holes = support.overlay_holes(np.zeros((3, 4, 3), np.uint8), mask)
    assert holes[1, 2].tolist() == [255, 0, 255] and holes[0, 0].tolist() == [0, 0, 0]
    assert support.mask_image(mask)[1, 2].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="hi"):
        support.colorize_disparity(disp, 1.0, 1.0)


def test_stage_view_refuses_foreign_ids(tmp_path):
    with pytest.raises(ValueError, match="not a job"):
        support.stage_view("../../etc", 0, root=tmp_path)
    with pytest.raises(ValueError, match="expired"):
        support.stage_view("a" * 32, 0, root=tmp_path)


def test_prune_removes_only_old_job_folders(tmp_path):
    import os
    import time

    _, old = support.new_job(tmp_path)
    _, fresh = support.new_job(tmp_path)
    kept_id, kept = support.new_job(tmp_path)
    support.keep_job(kept_id, root=tmp_path)
    other = tmp_path / "not-a-job"
    other.mkdir()
    past = time.time() - 7200
    for folder in (old, kept, other):
        os.utime(folder, (past, past))
    assert support.prune_jobs(3600, root=tmp_path) == 1
    assert not old.exists() and fresh.exists() and kept.exists() and other.exists()


def test_depth_path_with_a_tiny_model(tiny_depth_dir, tmp_path):
    models = support.load_models(str(tiny_depth_dir), device="cpu")
    assert models.depth_error is None and models.depth_model is not None
    job = support.plan_conversion(GARDEN, fmt="full-tb", max_seconds=1.0, depth_size=28, root=tmp_path)
    assert job.needs_depth and job.depth_size == 28
    reports = []
    result = support.run_conversion(models, job, lambda done, total, stage: reports.append((done, total, stage)))
    assert reports[-1] == (12, 12, "synthesis")
    assert models.depth_model.input_size is None  # the request used its own copy
    assert probe(result.outputs["full-tb"]).height == 2 * H
    restored = pickle.loads(pickle.dumps(result))  # what crosses back from the ZeroGPU worker
    assert len(restored.stages) == 8 and restored.stages[0].disparity.shape == (H, W)
    support.publish_conversion(job, result)
    view = support.stage_view(job.job_id, 3, root=tmp_path)
    assert "frame 4 of 8" in view.caption and "variant full" in view.caption and view.branch == "Poly branch"  # the default, full: final vs Poly
    assert support.stage_summary(job.job_id, root=tmp_path)["frames"] == 8
    captions = dict((c.split(",")[0], c) for _, c in view.gallery)
    refiner = {key: captions[f"Refiner {kind} {key}"] for key, kind in
               (("M1", "mask"), ("M2", "mask"), ("M3", "mask"), ("C", "content"))}
    assert all("eq. " in c for c in refiner.values())  # one line on what each does
    assert re.search(r"M3, \d\.\d{3}-\d\.\d{3}( in the holes)?: ", refiner["M3"])  # its value range
    assert re.search(r"C, values \d+-\d+ of 255", refiner["C"]) and "Refiner maps are drawn" in view.caption


def test_refiner_pictures_show_structure_and_range():
    m3 = np.full((8, 10), 0.99, np.float32)
    m3[:, :5] = 0.97  # a narrow band near 1: drawn plainly it is a blank white tile
    picture, caption = support.refiner_picture("m3", m3)
    assert caption.startswith("Refiner mask M3, 0.970-0.990: ") and "eq. 3" in caption
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) == 2  # two clearly different colours
    assert abs(int(picture[0, 0].sum()) - int(picture[0, 9].sum())) > 200  # dark purple vs yellow
    content = np.zeros((8, 10, 3), np.uint8)
    content[:, 5:] = (40, 20, 10)  # nearly black
    picture, caption = support.refiner_picture("c", content)
    assert caption.startswith("Refiner content C, values 0-40 of 255 (stretched): ")
    assert picture.max() == 255 and picture[0, 9].tolist() == [255, 128, 64]
    holes = np.zeros((8, 10), bool)
    holes[2:6, 3:8] = True  # measured and drawn only where the branches differ
    picture, caption = support.refiner_picture("m3", m3, holes, np.full((8, 10, 3), 200, np.uint8))
    assert caption.startswith("Refiner mask M3, 0.970-0.990 in the holes: ")
    assert picture[0, 0].tolist() == [110, 110, 110] and len(np.unique(picture[holes], axis=0)) == 2
    flat, caption = support.refiner_picture("m1", np.ones((4, 4), np.float32))
    assert "1.000-1.000" in caption and flat.shape == (4, 4, 3)
    with pytest.raises(ValueError, match="key"):
        support.refiner_picture("m4", m3)


def test_missing_depth_model_is_reported_not_raised_at_start_up(tmp_path):
    models = support.load_models(str(tmp_path / "nowhere"), device="cpu")
    assert models.depth_model is None and "does not exist" in models.depth_error
    job = support.plan_conversion(GARDEN, max_seconds=1.0, root=tmp_path)
    from spatialme.depth import DepthModelUnavailable

    with pytest.raises(DepthModelUnavailable, match="sidecar"):
        support.run_conversion(models, job)


def test_evaluation_with_depth_scaled_to_the_matched_disparity(tiny_depth_dir, sbs_clip, tmp_path):
    models = support.load_models(str(tiny_depth_dir), device="cpu")
    job = support.plan_evaluation(sbs_clip, disparity_source="depth", max_seconds=0.25, root=tmp_path)
    assert job.frames == 3 and (job.width, job.height) == (128, 96)
    outcome = support.run_evaluation(models, job)
    pickle.loads(pickle.dumps(outcome))
    methods = [row[0] for row in outcome.table["data"]]
    assert methods[:1] == ["poly"] and "depth model" in outcome.summary
    assert len(outcome.maps) == 2 * 3  # poly and telea, three frames each


def test_fit_disparity_recovers_an_affine_map(rng):
    near = rng.random((2, 20, 30)).astype(np.float32)
    matched = (12.0 * near + 1.5).astype(np.float32)
    valid = rng.random(near.shape) > 0.3
    fitted = support.fit_disparity(near, np.where(valid, matched, 0.0), valid)
    np.testing.assert_allclose(fitted, matched, atol=1e-3)


# --------------------------------------------------------------------------- README (newcomer commands)


def _readme_commands() -> list[str]:
    """The README's ``bash`` blocks, in order."""
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_readme_first_command_runs_twice(tmp_path):
    import os
    import shlex
    import subprocess
    import sys

    first = _readme_commands()[0]
    convert = shlex.split(first[first.index("python -m spatialme convert"):].strip())
    assert convert[-1] == "--overwrite"
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    command = [sys.executable, *convert[1:], "--max-frames", "4", "--quiet"]  # 4 frames: the rerun is the point
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in (1, 2):  # the second run meets the first one's output
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (run, done.stderr[-500:])
    assert _decode(tmp_path / "out" / "garden_LR.mp4").shape == (4, H, 2 * W, 3)


def test_readme_says_how_to_get_chromium_and_browser_tests_do_not_skip_silently(tmp_path):
    import os
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "apt-get install chromium" in readme and "SPATIALME_SKIP_BROWSER" in readme
    web = readme[readme.index("## Web app"):]
    assert "float16 or float32" in web.split("##")[1]  # the sidecar the garden example ships
    env = {**os.environ, "SPATIALME_CHROMIUM": str(tmp_path / "no-chromium")}
    env.pop("SPATIALME_SKIP_BROWSER", None)
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/test_app_browser.py"]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "apt-get install chromium" in done.stdout  # a failure with the fix, not a skip
