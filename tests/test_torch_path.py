"""The CUDA code path's torch kernels, run on CPU tensors and checked against the CPU path.

Everything the pipeline runs with ``kernels="torch"`` on a GPU is exercised here on a CPU:
the warp (sub-pixel positions, occlusion, the uncovered border band), Canny and Algorithm 1,
the branches, the learned fill and the refiner on whole frames against packed bands, and
the whole pipeline on a tiny clip. ``tests/test_cuda.py`` repeats the checks on CUDA.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from spatialme import PipelineConfig, StereoPipeline, torch_path
from spatialme.bands import BandConfig
from spatialme.branches import run_branches
from spatialme.data.synthetic import SceneConfig, render_scene
from spatialme.data.textures import load_textures
from spatialme.inpaint.classic import TeleaFill
from spatialme.inpaint.expand import ExpandConfig, expand_disparity, expansion_triggers
from spatialme.inpaint.learned import GatedInpainter, inpaint_frames
from spatialme.fusion import refine_frames, refined_region
from spatialme.refiner import MHFURefiner
from spatialme.warp import forward_warp


@pytest.fixture(scope="module")
def scene():
    return render_scene(load_textures(), SceneConfig(height=72, width=120, frames=3, max_disparity=10.0, camera_speed=2.0), seed=4)


def _dbl(value: float) -> torch.Tensor:
    return torch.tensor([value], dtype=torch.float64)


def test_warp_clip_matches_the_numba_kernel_at_subpixel_occlusion_and_border():
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (2, 20, 40, 3), dtype=np.uint8)
    disp = np.tile(np.linspace(4.3, 1.1, 40, dtype=np.float32), (2, 20, 1))  # sub-pixel slant
    disp[:, 5:15, 10:20] = 9.6  # a near box: occludes what is left of it, opens a gap right of it
    disp[1, 8:12, 28:34] = -2.4  # behind the screen: shifts right
    ref = forward_warp(left, disp)
    got = torch_path.warp_clip(torch_path.to_clip(left, "cpu"), torch.from_numpy(disp))
    np.testing.assert_array_equal(got.hole_mask.numpy(), ref.hole_mask)
    assert ref.hole_mask[:, :, -1].all() and not ref.hole_mask[:, :, -3].any()  # the 1.1 px border band the shift uncovers
    assert ref.hole_mask[0, 10, 11:16].all()  # the disocclusion beside the box (it lands at 0.4-9.4, the background from 17.3)
    image = torch_path.to_numpy_clip(got.image)
    assert np.abs(image.astype(int) - ref.image.astype(int)).max() <= 1
    assert (image == ref.image).mean() > 0.99
    np.testing.assert_allclose(got.disparity.numpy(), ref.disparity, atol=1e-4)
    # where the box lands over the slanted background, the nearer box wins
    np.testing.assert_allclose(got.disparity[0, 10, 2:9].numpy(), 9.6, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_canny_equals_opencv(seed):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (70, 110), dtype=np.uint8), (0, 0), 1.5 + seed)
    img[20:40, 30:60] = 250  # straight edges and corners: the sector and tie rules matter
    low, high = 10.0 + 8 * seed, 30.0 + 12 * seed
    ref = cv2.Canny(img, low, high, L2gradient=True) > 0
    got = torch_path.canny(torch.from_numpy(img[None]).float(), _dbl(low), _dbl(high))[0].numpy()
    assert ref.sum() > 50
    np.testing.assert_array_equal(got, ref)


def test_expansion_equals_algorithm_1_on_the_cpu(scene):
    disp = scene.disparity
    cfg = ExpandConfig(radius=3)
    trig = torch_path.expansion_triggers(torch.from_numpy(disp), 3, cfg.threshold).numpy()
    np.testing.assert_array_equal(trig, np.stack([expansion_triggers(d, 3, cfg.threshold) for d in disp]))
    ref = expand_disparity(disp, cfg)
    got = torch_path.expand_disparity(torch.from_numpy(disp), cfg).numpy()
    assert (ref != disp).sum() > 100  # the expansion did something
    np.testing.assert_array_equal(got, ref)
    flat = np.full((1, 30, 40), 3.0, np.float32)  # no edges: unchanged
    np.testing.assert_array_equal(torch_path.expand_disparity(torch.from_numpy(flat)).numpy(), flat)


@pytest.mark.parametrize("which", [("poly", "dl", "de"), ("de",)])
def test_branches_on_torch_kernels_match_the_cpu_path(scene, which):
    fill = TeleaFill()
    ref = run_branches(scene.left, scene.disparity, which, fill)
    got = run_branches(scene.left, scene.disparity, which, fill, kernels="torch", device="cpu")
    assert list(got.outputs) == list(ref.outputs)
    np.testing.assert_array_equal(got.warp.hole_mask, ref.warp.hole_mask)
    if "de" in which:
        np.testing.assert_array_equal(got.de_hole_mask, ref.de_hole_mask)
        np.testing.assert_array_equal(got.expanded_disparity, ref.expanded_disparity)
    for name in ref.outputs:
        diff = np.abs(got.outputs[name].astype(int) - ref.outputs[name].astype(int))
        assert diff.max() <= 3 and (diff == 0).mean() > 0.98, name
    if "poly" in which:
        np.testing.assert_array_equal(got.outputs["poly"], ref.outputs["poly"])  # the same CPU kernel, in a thread
    if "dl" in which:  # Telea propagates nothing; both paths say so
        assert got.dl_propagated.shape == ref.warp.hole_mask.shape and not got.dl_propagated.any() and not ref.dl_propagated.any()
    with pytest.raises(ValueError, match="kernels"):
        run_branches(scene.left, scene.disparity, which, fill, kernels="cuda")


def test_learned_fill_whole_frames_match_packed_bands(scene):
    torch.manual_seed(0)
    model = GatedInpainter(base_channels=8, levels=3)
    warp = forward_warp(scene.left, scene.disparity)
    whole = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=None)
    packed = inpaint_frames(model, warp.image, warp.hole_mask, warp.disparity, bands=BandConfig(band=16, margin=64, width=96, gap=64))
    np.testing.assert_array_equal(whole[~warp.hole_mask], warp.image[~warp.hole_mask])
    np.testing.assert_array_equal(packed[~warp.hole_mask], warp.image[~warp.hole_mask])
    assert warp.hole_mask.sum() > 50
    assert np.abs(whole.astype(int) - packed.astype(int)).max() <= 2


def test_refiner_whole_frames_match_packed_bands_with_their_maps():
    # frames big enough that holes lie farther than the band margin (56 px) from the border
    big = render_scene(load_textures(), SceneConfig(height=176, width=288, frames=2, max_disparity=12.0, camera_speed=2.0), seed=4)
    torch.manual_seed(0)
    net = MHFURefiner(base_channels=8)
    warp = forward_warp(big.left, big.disparity)
    de = cv2.blur(big.left.reshape(-1, big.left.shape[2], 3), (3, 3)).reshape(big.left.shape)
    masks = np.stack([warp.hole_mask, warp.hole_mask], axis=1)
    whole = refine_frames(net, warp.image, de, big.left, masks, bands=None, bf16=False, maps=[1])
    # a margin beyond the refiner's reach (about 60 px with the shelf alignment): then bands equal whole frames
    packed = refine_frames(net, warp.image, de, big.left, masks, bands=BandConfig(band=16, margin=64, width=160, gap=64), bf16=False, maps=[1])
    ring = refined_region(masks)
    inner = np.zeros_like(ring)
    inner[:, 64:-64, 64:-64] = True
    sel = ring & inner
    assert sel[1].sum() > 20
    assert np.abs(whole.right[sel].astype(int) - packed.right[sel].astype(int)).max() <= 1
    np.testing.assert_array_equal(packed.right[~ring], warp.image[~ring])
    np.testing.assert_array_equal(whole.right[~ring], warp.image[~ring])  # the same ring on whole frames
    assert (whole.maps[1]["m1"][~ring[1]] == 1).all() and (whole.maps[1]["c"][~ring[1]] == 0).all()  # maps say Poly there
    assert np.abs(whole.maps[1]["m1"][sel[1]] - packed.maps[1]["m1"][sel[1]]).max() <= 2 / 255


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    GatedInpainter(base_channels=8, levels=2).save_pretrained(root / "inpainter")
    MHFURefiner(base_channels=8, levels=2).save_pretrained(root / "refiner")
    return root


@pytest.mark.parametrize("variant", ["poly", "dl+de", "full"])
def test_pipeline_on_torch_kernels_matches_the_cpu_path(scene, tiny_weights, variant):
    cpu = StereoPipeline.from_pretrained(tiny_weights, config=PipelineConfig(device="cpu", kernels="numpy"))
    dev = StereoPipeline.from_pretrained(tiny_weights, config=PipelineConfig(device="cpu", kernels="torch"))
    assert cpu.kernels == "numpy" and dev.kernels == "torch"
    a = cpu.synthesize(scene.left, scene.disparity, variant)
    b = dev.synthesize(scene.left, scene.disparity, variant)
    np.testing.assert_array_equal(b.hole_mask, a.hole_mask)
    diff = np.abs(a.right.astype(int) - b.right.astype(int))
    assert diff.max() <= 4 and (diff == 0).mean() > 0.97
    with pytest.raises(ValueError, match="kernels"):
        PipelineConfig(kernels="gpu")


def test_speck_removal_is_the_same_on_torch_tensors():
    from spatialme.warp import speck_mask, speck_mask_torch

    rng = np.random.default_rng(7)
    holes = rng.random((3, 48, 64)) < 0.8  # dense holes: many lone known pixels and small blobs
    holes[:, :, :8] = False
    for size in (1, 3, 5):
        expected = speck_mask(holes, size)
        assert expected.any()
        np.testing.assert_array_equal(speck_mask_torch(torch.from_numpy(holes), size).numpy(), expected)
