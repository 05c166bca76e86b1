"""The refiner on a chunk (spatialme.fusion): bands vs whole frames, the kept region, the maps,
the training composite and the propagated pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spatialme.bands import BandConfig
from spatialme.fusion import FLIP_AVERAGE, FRAME_PAD, REFINE_RING, RefinedClip, compose_refined, keep_propagated, refine_clip, refine_frames, refined_region
from spatialme.refiner import MHFURefiner, fuse

from test_refiner import perturbed


def frame_inputs(h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    poly = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    de = np.clip(poly.astype(int) + rng.integers(-40, 40, poly.shape), 0, 255).astype(np.uint8)
    dl = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((2, h, w), bool)
    masks[0, 20:30, 40:44] = True  # a disocclusion strip
    masks[1, 21:34, 38:45] = True  # the DE re-warp's (larger) hole
    masks[0, :, w - 3 :] = True  # the uncovered right border band
    return poly, de, dl, masks


def refiner_chunk(height: int, width: int, frames: int, hole: tuple[slice, slice]):
    """A perturbed default refiner and a chunk of random branches with one plain-warp hole box."""
    torch.manual_seed(0)
    net = perturbed(MHFURefiner(), scale=1.0)
    parts = [frame_inputs(height, width, seed=s) for s in range(frames)]
    poly, de, dl = (np.stack([f[i] for f in parts]) for i in range(3))
    masks = np.stack([f[3] for f in parts])
    masks[(slice(None), 0) + hole] = True
    return net, poly, de, dl, masks


def test_refine_clip_without_holes_is_poly():
    net = perturbed(MHFURefiner(base_channels=8, levels=2))
    poly, de, dl, masks = frame_inputs(40, 48)
    none = np.zeros_like(masks)[None]
    np.testing.assert_array_equal(refine_clip(net, poly[None], de[None], dl[None], none), poly[None])


def test_refine_clip_validates():
    net = MHFURefiner(base_channels=8, levels=2)
    poly, de, dl, masks = (a[None] for a in frame_inputs(32, 32))
    with pytest.raises(ValueError, match="model"):
        refine_clip(torch.nn.Identity(), poly, de, dl, masks)
    with pytest.raises(ValueError, match="de"):
        refine_clip(net, poly, de[:, :16], dl, masks)
    with pytest.raises(ValueError, match="poly"):
        refine_clip(net, poly.astype(np.float32), de, dl, masks)


def test_refine_clip_packed_matches_whole_frame_near_holes_and_keeps_poly_elsewhere():
    torch.manual_seed(0)
    net = perturbed(MHFURefiner(), scale=1.0)
    frames = [frame_inputs(200, 301, seed=s) for s in range(2)]
    poly, de, dl = (np.stack([f[i] for f in frames]) for i in range(3))
    masks = np.stack([f[3] for f in frames])
    masks[:, 0, 90:130, 140:146] = True  # a strip far from the frame border
    masks[:, 1, 92:131, 143:149] = True
    whole = refine_clip(net, poly, de, dl, masks, bands=None, bf16=False)
    packed = refine_clip(net, poly, de, dl, masks, bands=BandConfig(band=16, margin=56, width=128, gap=56), bf16=False)
    import cv2

    kernel = np.ones((1, 2 * REFINE_RING + 1), np.uint8)  # the row neighbours of the holes
    ring = np.stack([cv2.dilate(m[0].astype(np.uint8), kernel) > 0 for m in masks])
    np.testing.assert_array_equal(refined_region(masks), ring)
    np.testing.assert_array_equal(packed[~ring], poly[~ring])  # Poly untouched away from holes
    np.testing.assert_array_equal(whole[~ring], poly[~ring])
    de_only = masks[:, 1] & ~ring  # the DE re-warp's own holes are not refined
    assert de_only.sum() > 50 and (packed[de_only] == poly[de_only]).all()
    inner = np.zeros_like(ring)
    inner[:, 56:-56, 56:-56] = True  # away from the frame border (see spatialme.bands)
    sel = ring & inner
    assert sel.sum() > 20 and np.abs(packed[sel].astype(int) - whole[sel].astype(int)).max() <= 1
    fast = refine_clip(net, poly, de, dl, masks, bf16=True)
    assert np.abs(fast.astype(int) - refine_clip(net, poly, de, dl, masks, bf16=False).astype(int)).max() <= 8
    with pytest.raises(ValueError, match="masks"):
        refine_clip(net, poly, de, dl, masks[:, :1])
    with pytest.raises(ValueError, match="bands"):
        refine_clip(net, poly, de, dl, masks, bands=3)


def two_looks(net: MHFURefiner, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused image and M1 as inference makes them (FLIP_AVERAGE): the mean of the upright
    pass and the upside-down pass turned back."""
    assert FLIP_AVERAGE
    h, w = inputs[0].shape[2:]
    grow = (0, -w % net.multiple, 0, -h % net.multiple)  # inference aligns the window first, then turns it
    inputs = tuple(F.pad(x, grow, mode="replicate") for x in inputs)
    with torch.inference_mode():
        up = net(*inputs)
        down = net(*(x.flip(2) for x in inputs))
    return 0.5 * (up.image + down.image.flip(2))[..., :h, :w], 0.5 * (up.m1 + down.m1.flip(2))[..., :h, :w]


def test_the_refiner_sees_the_frame_edge_replicated_by_frame_pad_px():
    """Exact values: the network runs on the chunk padded with its edge pixels, cropped back."""
    net, poly, de, dl, masks = refiner_chunk(37, 53, 2, (slice(10, 20), slice(20, 23)))
    res = refine_frames(net, poly, de, dl, masks, bands=None, bf16=False, maps=[1])
    assert FRAME_PAD > 0 and res.right.shape == poly.shape and res.maps[1]["m1"].shape == (37, 53)
    p = -(-FRAME_PAD // net.multiple) * net.multiple  # whole stride cells
    assert p % net.multiple == 0 and p >= FRAME_PAD
    edge = lambda a: np.pad(a, ((p, p), (p, p), (0, 0)), mode="edge")
    t = lambda a: torch.from_numpy(edge(a).astype(np.float32) / 255).permute(2, 0, 1)[None]
    region = refined_region(masks)
    for f in range(2):
        frame_masks = torch.from_numpy(edge(masks[f].transpose(1, 2, 0)).astype(np.float32)).permute(2, 0, 1)[None]
        image, m1 = two_looks(net, t(poly[f]), t(de[f]), t(dl[f]), frame_masks)
        by_hand = (image[0].permute(1, 2, 0).numpy()[p:-p, p:-p] * 255).round().clip(0, 255).astype(np.uint8)
        np.testing.assert_array_equal(res.right[f][region[f]], by_hand[region[f]])
        np.testing.assert_array_equal(res.right[f][~region[f]], poly[f][~region[f]])
    m1 = (m1[0, 0].numpy()[p:-p, p:-p] * 255).round() / 255
    np.testing.assert_allclose(res.maps[1]["m1"][region[1]], m1[region[1]], atol=1e-6)
    # the right border band's refined pixels differ from a zero-padded run's: the padding is seen
    with torch.inference_mode():
        zero = net(*(torch.from_numpy(a[1].astype(np.float32) / 255).permute(2, 0, 1)[None] for a in (poly, de, dl)), torch.from_numpy(masks[1].astype(np.float32))[None])
    zero_img = (zero.image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    band = region[1].copy()
    band[:, :-3] = False
    assert not np.array_equal(res.right[1][band], zero_img[band])


def test_the_two_looks_make_the_refiner_blind_to_turning_the_chunk_upside_down(monkeypatch):
    """With FLIP_AVERAGE the refined chunk of an upside-down input is the refined chunk upside
    down, exactly (a warp moves pixels along rows, so up and down are alike); one look is not."""
    import spatialme.fusion as fusion

    net, poly, de, dl, masks = refiner_chunk(32, 53, 2, (slice(9, 19), slice(20, 26)))  # 32 + 2 FRAME_PAD: whole stride cells
    turn = lambda a, axis: np.ascontiguousarray(np.flip(a, axis))
    upright = refine_frames(net, poly, de, dl, masks, bands=None, bf16=False, maps=[0])
    turned = refine_frames(net, turn(poly, 1), turn(de, 1), turn(dl, 1), turn(masks, 2), bands=None, bf16=False, maps=[0])
    np.testing.assert_array_equal(turned.right, turn(upright.right, 1))
    np.testing.assert_array_equal(turned.maps[0]["m2"], turn(upright.maps[0]["m2"], 0))
    monkeypatch.setattr(fusion, "FLIP_AVERAGE", False)
    one = refine_frames(net, poly, de, dl, masks, bands=None, bf16=False).right
    one_turned = refine_frames(net, turn(poly, 1), turn(de, 1), turn(dl, 1), turn(masks, 2), bands=None, bf16=False).right
    assert not np.array_equal(one_turned, turn(one, 1))
    assert not np.array_equal(one, upright.right)


def test_a_refiner_that_reads_the_disparity_gets_it_at_1_255_steps_on_both_paths():
    """Exact values on whole frames (the disparity padded and turned like the branches), the
    packed bands agree near the holes, and the disparity changes the refined pixels."""
    net, poly, de, dl, masks = refiner_chunk(120, 181, 2, (slice(50, 80), slice(90, 96)))
    wide = net.with_disparity_input()
    with torch.no_grad():
        wide.stem[0].weight[:, -1].normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(4)
    disparity = rng.random((2, 120, 181), dtype=np.float32)
    whole = refine_frames(wide, poly, de, dl, masks, bands=None, bf16=False, disparity=disparity)
    p = -(-FRAME_PAD // wide.multiple) * wide.multiple
    edge = lambda a: np.pad(a, ((p, p), (p, p), (0, 0)), mode="edge")
    t = lambda a: torch.from_numpy(edge(a).astype(np.float32) / 255).permute(2, 0, 1)[None]
    region = refined_region(masks)
    for f in range(2):
        frame_masks = torch.from_numpy(edge(masks[f].transpose(1, 2, 0)).astype(np.float32)).permute(2, 0, 1)[None]
        steps = np.round(disparity[f] * 255).astype(np.uint8)[..., None]  # what the network reads
        image, _ = two_looks(wide, t(poly[f]), t(de[f]), t(dl[f]), frame_masks, t(steps))
        by_hand = (image[0].permute(1, 2, 0).numpy()[p:-p, p:-p] * 255).round().clip(0, 255).astype(np.uint8)
        np.testing.assert_array_equal(whole.right[f][region[f]], by_hand[region[f]])
    packed = refine_frames(wide, poly, de, dl, masks, bands=BandConfig(band=16, margin=56, width=128, gap=56), bf16=False, disparity=disparity)
    inner = region.copy()
    inner[:, :56], inner[:, -56:], inner[:, :, :56], inner[:, :, -56:] = False, False, False, False
    assert inner.sum() > 20 and np.abs(packed.right[inner].astype(int) - whole.right[inner].astype(int)).max() <= 1
    flat = refine_frames(wide, poly, de, dl, masks, bands=None, bf16=False, disparity=np.zeros_like(disparity))
    assert (flat.right[region] != whole.right[region]).any()
    same = np.round(disparity * 255) / 255  # already on the steps: the same picture
    np.testing.assert_array_equal(refine_frames(wide, poly, de, dl, masks, bands=None, bf16=False, disparity=same.astype(np.float32)).right, whole.right)
    with pytest.raises(ValueError, match="reads the warp's disparity"):
        refine_frames(wide, poly, de, dl, masks)
    with pytest.raises(ValueError, match=r"disparity: expected shape \(2, 120, 181\)"):
        refine_frames(wide, poly, de, dl, masks, disparity=disparity[:, :60])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        refine_frames(wide, poly, de, dl, masks, disparity=disparity * 40)
    with pytest.raises(ValueError, match="dtype"):
        refine_frames(wide, poly, de, dl, masks, disparity=(disparity * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="does not read"):
        refine_frames(net, poly, de, dl, masks, disparity=disparity)


def _refuse(poly, de, dl, maps):
    """Eqs. 1-3 on the uint8 branches with the returned (quantised) maps -> (H, W, 3) float 0-255."""
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]
    m = lambda k: torch.from_numpy(maps[k])[None, None]
    return fuse(t(poly), t(de), t(dl), m("m1"), m("m2"), m("m3"), t(maps["c"]))[0].permute(1, 2, 0).numpy() * 255


@pytest.mark.parametrize("bands", [None, BandConfig(band=16, margin=56, width=128, gap=56)], ids=["whole", "bands"])
def test_refine_frames_maps_are_the_ones_behind_the_output(bands):
    net, poly, de, dl, masks = refiner_chunk(120, 181, 3, (slice(50, 80), slice(90, 96)))
    res = refine_frames(net, poly, de, dl, masks, bands=bands, bf16=False, maps=[2, 0])
    assert sorted(res.maps) == [0, 2]
    np.testing.assert_array_equal(res.right, refine_clip(net, poly, de, dl, masks, bands=bands, bf16=False))
    for t, maps in res.maps.items():
        assert maps["m1"].shape == (120, 181) and maps["m1"].dtype == np.float32 and maps["c"].dtype == np.uint8
        # the output is eqs. 1-3 of these very maps (up to their 1/255 quantisation and the two looks' disagreement)
        assert np.abs(_refuse(poly[t], de[t], dl[t], maps) - res.right[t]).max() <= 3
    if bands is not None:  # away from the holes the output is Poly, and the maps say so
        import cv2

        near = refined_region(masks[:1])[0]
        keep = ~near
        assert (res.maps[0]["m1"][keep] == 1).all() and (res.maps[0]["m3"][keep] == 1).all() and (res.maps[0]["c"][keep] == 0).all()
    with pytest.raises(ValueError, match="maps"):
        refine_frames(net, poly, de, dl, masks, maps=[3])


def test_refined_region_and_its_tensor_twin_agree():
    """The training composite keeps the refined view on exactly the pixels inference keeps."""
    rng = np.random.default_rng(3)
    masks = rng.random((2, 2, 23, 31)) > 0.93
    masks[:, :, 0, :] = False
    masks[0, 0, 0, 30] = True  # a hole in the corner: the dilation stops at the border
    region = refined_region(masks)
    assert region.shape == (2, 23, 31) and region[masks[:, 0]].all() and region.sum() > masks[:, 0].sum()
    one = np.zeros((1, 1, 5, 7), bool)
    one[0, 0, 2, 3] = True  # a single hole pixel: it and its left and right neighbours
    expected = np.zeros((1, 5, 7), bool)
    expected[0, 2, 3 - REFINE_RING : 4 + REFINE_RING] = True
    np.testing.assert_array_equal(refined_region(one), expected)
    # the same set written out: a plain-warp hole, or its left or right neighbour is one (the DE mask plays no part)
    holes = masks[:, 0]
    near = holes.copy()
    near[..., 1:] |= holes[..., :-1]
    near[..., :-1] |= holes[..., 1:]
    np.testing.assert_array_equal(region, near)
    assert (masks[:, 1] & ~near).any()  # DE-only holes exist here, and stay out
    refined, poly = torch.rand(2, 3, 23, 31), torch.rand(2, 3, 23, 31)
    refined.requires_grad_(True)
    shown = compose_refined(refined, poly, torch.from_numpy(masks[:, :1]).float())
    keep = torch.from_numpy(region)[:, None].expand(-1, 3, -1, -1)
    assert torch.equal(shown[keep], refined[keep]) and torch.equal(shown[~keep], poly[~keep])
    shown.sum().backward()
    assert torch.equal(refined.grad, keep.float())  # gradients reach the refined pixels only there
    assert refined_region(np.zeros((1, 0, 4, 5), bool)).all()  # no masks: every pixel refined
    with pytest.raises(ValueError, match="hole"):
        compose_refined(refined, poly, torch.zeros(2, 2, 23, 31))


def test_propagated_pixels_stay_the_dl_branchs_and_the_maps_say_so():
    net, poly, de, dl, masks = refiner_chunk(60, 90, 2, (slice(20, 40), slice(30, 36)))
    refined = refine_frames(net, poly, de, dl, masks, bands=None, bf16=False, maps=[0, 1])
    propagated = np.zeros(masks[:, 0].shape, bool)
    propagated[:, 22:30, 31:35] = True
    kept = keep_propagated(refined, dl, propagated)
    np.testing.assert_array_equal(kept.right[propagated], dl[propagated])
    np.testing.assert_array_equal(kept.right[~propagated], refined.right[~propagated])
    for t in (0, 1):
        m = kept.maps[t]
        assert (m["m2"][propagated[t]] == 0).all() and (m["m3"][propagated[t]] == 1).all()
        np.testing.assert_array_equal(m["m1"], refined.maps[t]["m1"])
        # eqs. 1-3 with the returned maps still give the output
        assert np.abs(_refuse(poly[t], de[t], dl[t], m) - kept.right[t]).max() <= 3
    assert not np.array_equal(refined.right[propagated], dl[propagated])  # the refiner alone had blended them
    with pytest.raises(ValueError, match="propagated"):
        keep_propagated(refined, dl, propagated[:, 1:])
