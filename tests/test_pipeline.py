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


def test_derive_shares_networks_not_state(tiny_weights):
    base = StereoPipeline.from_pretrained(tiny_weights, device="cpu")
    base.check_variant("full")  # loads the learned parts
    child = base.derive(config=PipelineConfig(chunk=3, device="cpu"))
    assert child.learned_fill is base.learned_fill and child.refiner is base.refiner
    assert child.config.chunk == 3 and base.config.chunk == 16 and child._depth is None
