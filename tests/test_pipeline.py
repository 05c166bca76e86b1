import numpy as np
import pytest

from spatialme import PipelineConfig, StereoPipeline, VariantUnavailable
from spatialme.inpaint.polyline import polyline_right_view_clip
from spatialme.warp import forward_warp


def layered(t=2, h=24, w=40):
    left = np.zeros((t, h, w, 3), np.uint8)
    left[..., 1] = np.linspace(0, 200, w, dtype=np.uint8)
    left[:, 6:18, 10:22] = (240, 30, 30)
    disp = np.full((t, h, w), 1.0, np.float32)
    disp[:, 6:18, 10:22] = 6.0
    return left, disp


def test_poly_variant_outputs():
    left, disp = layered()
    pipe = StereoPipeline.from_pretrained()
    out = pipe.synthesize(left, disp, variant="poly")
    assert out.right.shape == left.shape and out.right.dtype == np.uint8
    assert out.hole_mask.shape == disp.shape and out.hole_mask.dtype == np.bool_
    assert set(out.branches) == {"poly"}
    np.testing.assert_array_equal(out.right, polyline_right_view_clip(left, disp))
    ref = forward_warp(left, disp)
    np.testing.assert_array_equal(out.hole_mask, ref.hole_mask)
    np.testing.assert_array_equal(out.warped, ref.image)
    # the foreground moved 6 px left, the 5-px disocclusion right of it is a hole
    assert (np.abs(out.right[0, 12, 5:15].astype(int) - (240, 30, 30)) <= 1).all()
    assert out.hole_mask[0, 12, 16:21].all() and not out.hole_mask[0, 12, :16].any()


def test_single_frame_gets_time_axis():
    left, disp = layered(t=1)
    out = StereoPipeline().synthesize(left[0], disp[0])
    assert out.right.shape == left.shape


@pytest.mark.parametrize("variant", ["dl", "dl+de", "full"])
def test_learned_variants_say_they_are_missing(variant, tmp_path):
    left, disp = layered(t=1)
    with pytest.raises(VariantUnavailable, match="unavailable"):
        StereoPipeline(pretrained=tmp_path).synthesize(left, disp, variant=variant)


def test_bad_inputs():
    left, disp = layered()
    pipe = StereoPipeline()
    with pytest.raises(ValueError, match="variant"):
        pipe.synthesize(left, disp, variant="magic")
    with pytest.raises(ValueError, match="disparity: expected shape"):
        pipe.synthesize(left, disp[:, :, :-1])
    with pytest.raises(ValueError, match="left: expected dtype uint8"):
        pipe.synthesize(left.astype(np.float32), disp)
    with pytest.raises(ValueError, match="chunk"):
        PipelineConfig(chunk=0)


def test_from_pretrained_overrides():
    pipe = StereoPipeline.from_pretrained(poly_variant="soft", chunk=4)
    assert pipe.config.poly_variant == "soft" and pipe.config.chunk == 4


def test_convert_writes_extra_formats_and_keeps_stages(tmp_path):
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures
    from spatialme.video import VideoWriter, probe

    scene = render_scene(load_textures(), SceneConfig(height=64, width=96, frames=6, max_disparity=5.0), seed=2)
    src = tmp_path / "in.mp4"
    with VideoWriter(src, 8) as w:
        w.write(scene.left)
    seen = []
    res = StereoPipeline(PipelineConfig(chunk=4)).convert(
        src,
        tmp_path / "in_LR.mp4",
        variant="poly",
        disparity=scene.disparity,
        extra_outputs={"anaglyph": tmp_path / "in_anaglyph.mp4"},
        inspect=3,
        progress=lambda done, total, stage: seen.append((done, total)),
    )
    assert seen == [(4, 6), (6, 6)]
    assert set(res.outputs) == {"full-sbs", "anaglyph"}
    assert (probe(res.outputs["full-sbs"]).width, probe(res.outputs["anaglyph"]).width) == (192, 96)
    assert [s.index for s in res.stages] == [0, 2, 5] or [s.index for s in res.stages] == [0, 3, 5]
    st = res.stages[-1]
    np.testing.assert_array_equal(st.disparity, scene.disparity[st.index])
    assert st.hole_mask.any() and set(st.branches) == {"poly"} and st.right.shape == (64, 96, 3)


def test_convert_failure_leaves_no_outputs(tmp_path):
    from spatialme.video import VideoWriter

    src = tmp_path / "in.mp4"
    with VideoWriter(src, 8) as w:
        w.write(np.zeros((4, 32, 48, 3), np.uint8))
    bad = np.zeros((4, 32, 48), np.float32)
    bad[3] = np.nan  # fails on the second chunk, after outputs were opened
    with pytest.raises(ValueError, match="NaN"):
        StereoPipeline(PipelineConfig(chunk=2)).convert(src, tmp_path / "a.mp4", disparity=bad, extra_outputs={"anaglyph": tmp_path / "b.mp4"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A weights folder with a tiny random inpainter and refiner, saved as the mixin saves them."""
    from spatialme.inpaint.learned import GatedInpainter
    from spatialme.refiner import MHFURefiner

    root = tmp_path_factory.mktemp("weights")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    GatedInpainter(base_channels=8, levels=2).save_pretrained(root / "inpainter")
    MHFURefiner(base_channels=8, levels=2).save_pretrained(root / "refiner")
    return root


@pytest.mark.parametrize("variant, branches", [("dl", {"dl"}), ("dl+de", {"de"}), ("full", {"poly", "dl", "de"})])
def test_learned_variants_with_weights(tiny_weights, variant, branches):
    left, disp = layered(t=3, h=32, w=48)
    pipe = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    out = pipe.synthesize(left, disp, variant=variant)
    assert set(out.branches) == branches
    assert out.right.shape == left.shape and out.right.dtype == np.uint8
    known = ~out.hole_mask
    if variant == "dl":  # the DL branch only fills holes: every warped pixel is kept
        np.testing.assert_array_equal(out.right[known], out.warped[known])
    if variant == "full":  # far from any hole the refiner leaves the Poly branch untouched
        far = ~np.stack([np.convolve(r.any(0), np.ones(41), "same") > 0 for r in out.hole_mask])
        cols = np.broadcast_to(far[:, None, :], out.hole_mask.shape)
        np.testing.assert_array_equal(out.right[cols], out.branches["poly"][cols])


def test_missing_weights_folder_makes_learned_variants_unavailable(tmp_path):
    left, disp = layered(t=1)
    pipe = StereoPipeline.from_pretrained(tmp_path)
    with pytest.raises(VariantUnavailable, match="no trained inpainter"):
        pipe.synthesize(left, disp, variant="dl")


def test_full_variant_reports_refiner_maps(tiny_weights):
    left, disp = layered(t=2, h=32, w=48)
    pipe = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    out = pipe.synthesize(left, disp, variant="full")
    maps = pipe.refiner_maps(out, 1)
    assert set(maps) == {"m1", "m2", "m3", "c"}
    assert maps["m1"].shape == (32, 48) and 0 <= maps["m1"].min() and maps["m3"].max() <= 1
    assert maps["c"].shape == (32, 48, 3) and maps["c"].dtype == np.uint8
    assert pipe.refiner_maps(StereoPipeline().synthesize(left, disp, variant="poly"), 0) == {}
    kept = pipe.synthesize(left, disp, variant="full", maps_for=[1])
    np.testing.assert_array_equal(kept.right, out.right)
    assert set(kept.refiner) == {1}
    for k in ("m1", "m2", "m3", "c"):  # the maps kept from the pass equal those asked for afterwards
        np.testing.assert_array_equal(pipe.refiner_maps(kept, 1)[k], maps[k])


def test_full_variant_gives_a_disparity_reading_refiner_the_warps_disparity(tiny_weights, tmp_path):
    """The refiner that reads the disparity gets the plain warp's, normalised per frame as the DL
    branch reads it; the maps asked for afterwards come from the same inputs."""
    import shutil

    import torch

    from spatialme.fusion import keep_propagated, refine_frames
    from spatialme.inpaint.inference import normalize_disparity
    from spatialme.refiner import MHFURefiner

    shutil.copytree(tiny_weights / "inpainter", tmp_path / "inpainter")
    from test_refiner import perturbed

    wide = perturbed(MHFURefiner.from_pretrained(tiny_weights / "refiner").with_disparity_input(), scale=1.0)  # masks that vary
    wide.save_pretrained(tmp_path / "refiner")
    left, disp = layered(t=2, h=32, w=48)
    pipe = StereoPipeline.from_pretrained(tmp_path, device="cpu")
    out = pipe.synthesize(left, disp, variant="full", maps_for=[0])
    assert pipe.refiner.disparity_input
    masks = np.stack([out.hole_mask, out.de_hole_mask], axis=1)
    guide = normalize_disparity(out.warped_disparity, out.hole_mask)
    b = out.branches
    expected = keep_propagated(refine_frames(pipe.refiner, b["poly"], b["de"], b["dl"], masks, pipe.config.bands, disparity=guide), b["dl"], out.propagated)
    np.testing.assert_array_equal(out.right, expected.right)
    blind = refine_frames(pipe.refiner, b["poly"], b["de"], b["dl"], masks, pipe.config.bands, disparity=np.zeros_like(guide))
    assert not np.array_equal(blind.right, expected.right)  # the disparity it got made a difference
    for k in ("m1", "m2", "m3", "c"):
        np.testing.assert_array_equal(pipe.refiner_maps(out, 0)[k], out.refiner[0][k])
    assert pipe.refiner_maps(out, 1)["m1"].shape == (32, 48)


def test_full_variant_keeps_the_pixels_neighbouring_frames_saw(tiny_weights):
    """Hole pixels the DL branch copied from a neighbouring frame stay DL's, and the maps say so
    (those of the pass and those asked for afterwards alike)."""
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures

    scene = render_scene(load_textures(), SceneConfig(height=96, width=160, frames=4, max_disparity=16, camera_speed=3.0, object_speed=4.0), seed=1)
    pipe = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    out = pipe.synthesize(scene.left, scene.disparity, variant="full", maps_for=[1])
    prop = out.propagated
    assert prop.shape == out.hole_mask.shape and prop[1].any() and not (prop & ~out.hole_mask).any()
    np.testing.assert_array_equal(out.right[prop], out.branches["dl"][prop])
    for t, maps in ((1, out.refiner[1]), (1, pipe.refiner_maps(out, 1)), (2, pipe.refiner_maps(out, 2))):
        assert (maps["m2"][prop[t]] == 0).all() and (maps["m3"][prop[t]] == 1).all()
    assert pipe.synthesize(scene.left, scene.disparity, variant="poly").propagated is None


def test_derive_shares_networks_not_state(tiny_weights):
    base = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    base.check_variant("full")  # loads the learned parts
    child = base.derive(config=PipelineConfig(chunk=3, device="cpu"))
    assert child.learned_fill is base.learned_fill and child.refiner is base.refiner
    assert child.config.chunk == 3 and base.config.chunk == 16 and child._depth is None


# --------------------------------------------------------------------------- memory budget and files


def test_chunks_follow_the_pixel_budget():
    from spatialme.pipeline import chunk_frames

    cfg = PipelineConfig()
    assert [chunk_frames(h, w, cfg) for h, w in [(360, 640), (720, 1280), (1080, 1920), (2160, 3840), (4320, 7680)]] == [16, 16, 8, 2, 1]
    assert chunk_frames(2160, 3840, PipelineConfig(chunk=1)) == 1
    with pytest.raises(ValueError, match="chunk_pixels"):
        PipelineConfig(chunk_pixels=100)
    with pytest.raises(ValueError, match="strip_pixels"):
        PipelineConfig(strip_pixels=True)


def test_row_strips_tile_the_frame_within_the_budget():
    from spatialme.pipeline import STRIP_MARGIN, row_strips

    assert row_strips(2160, 3840, 2 * 3840 * 2160) == [(0, 2160, 0, 2160)]
    strips = row_strips(4320, 7680, 2 * 3840 * 2160)
    assert [(k0, k1) for _, _, k0, k1 in strips] == [(0, 2160), (2160, 4320)]
    assert strips[0][:2] == (0, 2160 + STRIP_MARGIN) and strips[1][:2] == (2160 - STRIP_MARGIN, 4320)
    assert [(k0, k1) for _, _, k0, k1 in row_strips(4320, 7680, PipelineConfig().strip_pixels)] == [
        (0, 1080), (1080, 2160), (2160, 3240), (3240, 4320)]  # 8K by default: four strips of a 4K frame each
    strips = row_strips(1001, 300, 65536, margin=10)
    kept = np.concatenate([np.arange(k0, k1) for _, _, k0, k1 in strips])
    np.testing.assert_array_equal(kept, np.arange(1001))
    assert all((hi - lo) * 300 <= 65536 + 2 * 10 * 300 and lo <= k0 < k1 <= hi for lo, hi, k0, k1 in strips)


def _clip_file(tmp_path, frames=3, h=64, w=96, name="in.mp4"):
    from spatialme.video import VideoWriter

    left, disp = layered(t=frames, h=h, w=w)
    src = tmp_path / name
    with VideoWriter(src, 8, crf=0) as writer:
        writer.write(left)
    return src, disp


def test_frames_beyond_the_budget_go_in_strips_with_the_same_result(tmp_path):
    from spatialme.video import read_frames

    src, disp = _clip_file(tmp_path, frames=2, h=320, w=256)  # 81,920 px a frame
    small = StereoPipeline(PipelineConfig(chunk_pixels=65536, strip_pixels=65536))  # two strips a frame
    whole = StereoPipeline(PipelineConfig())
    calls = []
    original = small.synthesize
    small.synthesize = lambda left, d, variant, **kw: calls.append(left.shape) or original(left, d, variant, **kw)
    a = small.convert(src, tmp_path / "a.mp4", variant="poly", disparity=disp, fmt="right", inspect=2)
    b = whole.convert(src, tmp_path / "b.mp4", variant="poly", disparity=disp, fmt="right", inspect=2)
    assert calls == [(1, 160 + 64, 256, 3), (1, 64 + 160, 256, 3)] * 2  # one frame a chunk, two strips with margins
    np.testing.assert_array_equal(np.concatenate(list(read_frames(a.output))), np.concatenate(list(read_frames(b.output))))
    for sa, sb in zip(a.stages, b.stages, strict=True):  # the stages are assembled at full size too
        np.testing.assert_array_equal(sa.right, sb.right)
        np.testing.assert_array_equal(sa.hole_mask, sb.hole_mask)
        assert sa.warped.shape == (320, 256, 3) and set(sa.branches) == {"poly"}


def test_outputs_beyond_the_h264_level_are_scaled_down_with_a_note(tmp_path, monkeypatch, caplog):
    from spatialme import video
    from spatialme.io import writer
    from spatialme.video import probe

    src, disp = _clip_file(tmp_path)
    monkeypatch.setattr(writer, "H264_MAX_MACROBLOCKS", 36)  # full SBS of 96x64 is 12x4 = 48 macroblocks
    monkeypatch.setattr(video, "H264_MAX_MACROBLOCKS", 36)  # h264_fit reads it above; the pipeline's note here
    with caplog.at_level("WARNING", logger="spatialme"):
        res = StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp, extra_outputs={"half-sbs": tmp_path / "h.mp4"})
    note = ("full-sbs: 192x64 frames are beyond H.264 level 6.2 (36 macroblocks), which browsers and hardware decoders may "
            "refuse; writing 148x48 (half-sbs keeps 96x64 per frame)")
    assert res.notes == [note] and note in caplog.text
    assert (res.width, res.height) == (148, 48) and video.h264_fit(192, 64) == (148, 48)
    info = probe(res.output)
    assert (info.width, info.height, info.frames) == (148, 48, 3)
    assert (probe(tmp_path / "h.mp4").width, probe(tmp_path / "h.mp4").height) == (96, 64)  # within the level: as is


def test_convert_reads_npz_sidecars(tmp_path):
    src, disp = _clip_file(tmp_path, frames=5)
    disp = disp + np.linspace(0, 2, 5, dtype=np.float32)[:, None, None]  # every frame different
    np.savez(tmp_path / "one.npz", disp.astype(np.float16))
    np.savez_compressed(tmp_path / "named.npz", disparity=disp, preview=disp[:1])
    np.save(tmp_path / "d16.npy", disp.astype(np.float16))
    for name, want in (("one.npz", disp.astype(np.float16)), ("named.npz", disp), ("d16.npy", disp.astype(np.float16))):
        res = StereoPipeline(PipelineConfig(chunk=2)).convert(src, tmp_path / f"{name}.mp4", variant="poly", disparity=tmp_path / name,
                                                              fmt="right", start=0.25, inspect=3)
        assert res.frames == 3 and [s.index for s in res.stages] == [0, 1, 2]  # from frame 2 (0.25 s at 8 fps), in chunks
        for stage, expected in zip(res.stages, want[2:], strict=True):
            np.testing.assert_array_equal(stage.disparity, expected.astype(np.float32))
    np.savez(tmp_path / "two.npz", a=disp, b=disp)
    np.savez(tmp_path / "none.npz")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    for name, message in [("two.npz", "disparity: two.npz holds a, b; expected one array, or one named 'disparity'"),
                          ("none.npz", "disparity: none.npz holds no arrays; expected one array, or one named 'disparity'"),
                          ("junk.npy", "disparity: junk.npy is not a .npy or .npz file; expected a (T, H, W) float array saved with numpy.save (or numpy.savez)")]:
        with pytest.raises(ValueError) as err:
            StereoPipeline().convert(src, tmp_path / "bad.mp4", variant="poly", disparity=tmp_path / name)
        assert str(err.value) == message
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("value, shown", [(1e6, "1e+06"), (3e38, "3e+38"), (-1e5, "-1e+05"), (97.0, "97")])
def test_convert_refuses_disparity_beyond_the_frame_width(tmp_path, value, shown):
    src, disp = _clip_file(tmp_path, frames=4)
    disp[3, 5, 5] = value  # in the last frame: found before any work
    for given in (disp, tmp_path / "d.npy"):
        np.save(tmp_path / "d.npy", disp)
        with pytest.raises(ValueError) as err:
            StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=given)
        assert str(err.value) == f"disparity: {shown} px is beyond the frame width; expected values from -96 to 96 px"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npy", "in.mp4"]
    disp[3, 5, 5] = 96.0  # the limit itself is allowed
    StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp)


def test_convert_claims_outputs_and_never_replaces_the_input(tmp_path):
    from spatialme.video import OutputExists, probe

    src, disp = _clip_file(tmp_path)
    before = src.read_bytes()
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"^output: .*in\.mp4 is the input file; choose another output name$"):
            StereoPipeline().convert(src, src, variant="poly", disparity=disp, overwrite=overwrite)
    assert src.read_bytes() == before
    StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp)
    with pytest.raises(OutputExists, match=r"o\.mp4 exists$"):
        StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp)
    res = StereoPipeline().convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp, fmt="right", overwrite=True)
    assert probe(res.output).width == 96


def test_failed_overwrite_keeps_the_old_output(tmp_path):
    src, disp = _clip_file(tmp_path, frames=4)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"earlier result")
    pipe = StereoPipeline(PipelineConfig(chunk=2))
    original = pipe.synthesize
    calls = []

    def fail_second(left, d, variant, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("synthesis failed")
        return original(left, d, variant, **kw)

    pipe.synthesize = fail_second
    with pytest.raises(RuntimeError, match="synthesis failed"):
        pipe.convert(src, out, variant="poly", disparity=disp, overwrite=True, extra_outputs={"anaglyph": tmp_path / "a.mp4"})
    assert out.read_bytes() == b"earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o.mp4"]


def _two_shots(frames=3, h=48, w=80):
    """Two unrelated moving-camera shots back to back: ``(2 * frames, h, w, 3)`` and disparity."""
    from spatialme.data.synthetic import SceneConfig, render_scene
    from spatialme.data.textures import load_textures

    cfg = SceneConfig(height=h, width=w, frames=frames, max_disparity=6.0, camera_speed=2.0)
    a, b = (render_scene(load_textures(), cfg, seed=s) for s in (1, 7))
    b_left = b.left.copy()
    b_left[..., 2] = 255 - b_left[..., 2]  # another colour world: the cut detector sees the change
    return np.concatenate([a.left, b_left]), np.concatenate([a.disparity, b.disparity])


def test_nothing_propagates_across_a_scene_cut(tiny_weights):
    left, disp = _two_shots()
    cuts = np.zeros(len(left), bool)
    cuts[3] = True
    pipe = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    for variant in ("dl", "full"):
        joined = pipe.synthesize(left, disp, variant, cuts=cuts).right[3:]
        alone = pipe.synthesize(left[3:], disp[3:], variant).right  # the second shot on its own
        assert np.abs(joined.astype(int) - alone.astype(int)).max() <= 2, variant
    with pytest.raises(ValueError, match="cuts: expected shape"):
        pipe.synthesize(left, disp, "dl", cuts=cuts[:-1])
    with pytest.raises(ValueError, match="cuts: expected dtype"):
        pipe.synthesize(left, disp, "dl", cuts=cuts.astype(int))


def test_convert_passes_the_detected_cuts_to_the_branches(tmp_path):
    from spatialme.video import VideoWriter

    left, disp = _two_shots()
    src = tmp_path / "two.mp4"
    with VideoWriter(src, 8, crf=0) as writer:
        writer.write(left)
    pipe = StereoPipeline(PipelineConfig(chunk=6))
    seen, original = [], pipe.synthesize
    pipe.synthesize = lambda l, d, v, **kw: seen.append(kw.get("cuts")) or original(l, d, v, **kw)
    pipe.convert(src, tmp_path / "o.mp4", variant="poly", disparity=disp)
    assert len(seen) == 1 and seen[0] is not None and np.flatnonzero(seen[0]).tolist() == [3]
    off = StereoPipeline(PipelineConfig(chunk=6, scene_cuts=None))
    seen.clear()
    off.synthesize = lambda l, d, v, **kw: seen.append(kw.get("cuts")) or original(l, d, v, **kw)
    off.convert(src, tmp_path / "p.mp4", variant="poly", disparity=disp)
    assert seen == [None]
