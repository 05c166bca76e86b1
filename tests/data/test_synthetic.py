"""Synthetic stereo scenes and textures: shapes, seeding, exact ground truth."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from spatialme.data.synthetic import SceneConfig, StereoScene, render_scene
from spatialme.data.textures import DEFAULT_TEXTURE_DIR, list_textures, load_textures, read_texture, split_textures
from spatialme.warp import forward_warp

SMALL = SceneConfig(height=64, width=96, frames=4, max_disparity=6.0)


@pytest.fixture(scope="module")
def textures() -> list[np.ndarray]:
    return load_textures()


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    err = a.astype(np.float64)[mask] - b.astype(np.float64)[mask]
    return float(10 * np.log10(255.0**2 / max(np.mean(err**2), 1e-12)))


def depth_edges(disparity: np.ndarray, jump: float = 0.2) -> np.ndarray:
    """Pixels beside a disparity jump larger than ``jump`` px (object silhouettes)."""
    edges = np.zeros(disparity.shape, bool)
    gx = np.abs(np.diff(disparity, axis=-1)) > jump
    gy = np.abs(np.diff(disparity, axis=-2)) > jump
    edges[..., 1:] |= gx
    edges[..., :-1] |= gx
    edges[..., 1:, :] |= gy
    edges[..., :-1, :] |= gy
    return edges


def silhouette_band(scene: StereoScene, radius: int = 2) -> np.ndarray:
    """Right-view pixels within ``radius`` px of a silhouette, in either view.

    Left-view silhouettes are forward-warped to where their mixed pixels land (a mixed
    pixel on the far side of an edge lands across the disocclusion from its object).
    """
    left_edges = depth_edges(scene.disparity).astype(np.uint8) * 255
    landed = forward_warp(np.repeat(left_edges[..., None], 3, axis=-1), scene.disparity).image[..., 0] > 0
    band = (landed | depth_edges(scene.right_disparity)).astype(np.uint8)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.stack([cv2.dilate(frame, kernel) > 0 for frame in band])


def test_shapes_and_dtypes(textures):
    scene = render_scene(textures, SMALL, seed=0)
    assert scene.left.shape == scene.right.shape == (4, 64, 96, 3)
    assert scene.left.dtype == scene.right.dtype == np.uint8
    assert scene.disparity.shape == scene.right_disparity.shape == (4, 64, 96)
    assert scene.disparity.dtype == scene.right_disparity.dtype == np.float32
    assert scene.meta["seed"] == 0 and scene.meta["background"] in ("slanted", "curved")


def test_same_seed_gives_identical_arrays(textures):
    a, b = render_scene(textures, SMALL, seed=7), render_scene(textures, SMALL, seed=7)
    for name in ("left", "right", "disparity", "right_disparity"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.meta == b.meta


def test_different_seeds_differ(textures):
    a, b = render_scene(textures, SMALL, seed=1), render_scene(textures, SMALL, seed=2)
    assert not np.array_equal(a.left, b.left)
    assert not np.array_equal(a.disparity, b.disparity)


@pytest.mark.parametrize("background", ["slanted", "curved"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_warping_left_reproduces_right_outside_holes(textures, background, seed):
    scene = render_scene(textures, SceneConfig(background=background), seed=seed)
    assert scene.meta["background"] == background
    warped = forward_warp(scene.left, scene.disparity)
    filled = ~warped.hole_mask
    clean = filled & ~silhouette_band(scene)
    assert clean.mean() > 0.5
    assert psnr(warped.image, scene.right, clean) > 40.0
    assert psnr(warped.image, scene.right, filled) > 30.0


def test_background_only_scene_is_exact_everywhere_but_the_border_band(textures):
    config = replace(SMALL, min_objects=0, max_objects=0, frames=3)
    scene = render_scene(textures, config, seed=4)
    assert scene.disparity.max() <= 0.4 * config.max_disparity + 1e-4
    warped = forward_warp(scene.left, scene.disparity)
    assert psnr(warped.image, scene.right, ~warped.hole_mask) > 45.0
    # every hole is the band the shift uncovers at the right border: its true content is texture
    cols = np.nonzero(warped.hole_mask)[-1]
    assert cols.size == 0 or cols.min() >= config.width - np.ceil(scene.disparity.max()) - 1


def test_disocclusions_exist_and_show_farther_texture(textures):
    config = SceneConfig(min_objects=3)
    for seed in range(3):
        scene = render_scene(textures, config, seed=seed)
        warped = forward_warp(scene.left, scene.disparity)
        holes = warped.hole_mask
        assert holes.sum() > 100
        content = scene.right[holes].astype(np.float32)
        assert (content.sum(-1) > 0).mean() > 0.95  # real pixels, not the zeros of a hole
        assert content.std() > 5.0  # texture, not a flat fill
        # a disocclusion (a hole with warped pixels on both sides in its row) reveals what lies
        # behind the layer that landed just left of it
        cols = np.arange(holes.shape[-1])
        last_left = np.maximum.accumulate(np.where(holes, -1, cols), axis=-1)
        next_right = np.flip(np.minimum.accumulate(np.flip(np.where(holes, holes.shape[-1], cols), -1), axis=-1), -1)
        interior = holes & (last_left >= 0) & (next_right < holes.shape[-1])
        occluder = np.take_along_axis(warped.disparity, np.maximum(last_left, 0), axis=-1)
        assert interior.sum() > 100
        assert (scene.right_disparity[interior] < occluder[interior]).mean() > 0.85


def test_disparity_ranges(textures):
    config = SceneConfig(max_disparity=12.0)
    for seed in range(4):
        scene = render_scene(textures, config, seed=seed)
        for disp in (scene.disparity, scene.right_disparity):
            assert disp.min() >= 0.0 and disp.max() <= 12.0 + 1e-4
            background = disp[disp < 0.5 * 12.0]
            assert background.size > 0 and background.max() <= 0.4 * 12.0 + 1e-4
        lo, hi = scene.meta["background_range"]
        assert 0.0 <= lo < hi <= 0.4 * 12.0
        assert all(6.0 <= d <= 12.0 for d in scene.meta["object_disparities"])


def test_objects_sit_at_distinct_constant_depths(textures):
    config = SceneConfig(min_objects=4, max_objects=5)
    scene = render_scene(textures, config, seed=5)
    depths = np.array(scene.meta["object_disparities"])
    assert 4 <= depths.size <= 5
    gap = 0.4 * 0.5 * config.max_disparity / depths.size
    assert np.all(np.diff(depths) >= gap - 1e-9)  # sorted far to near, well apart
    fore = scene.disparity[scene.disparity >= 0.5 * config.max_disparity]
    seen = np.unique(fore)
    assert np.all(np.isin(seen, depths.astype(np.float32)))  # each object is one constant disparity
    assert seen.size >= 2


@pytest.mark.parametrize("background", ["slanted", "curved"])
def test_background_shape_along_rows(textures, background):
    config = SceneConfig(background=background, min_objects=0, max_objects=0, frames=2)
    scene = render_scene(textures, config, seed=3)
    curvature = np.abs(np.diff(scene.disparity.astype(np.float64), n=2, axis=1))  # along y
    if background == "slanted":
        assert curvature.max() < 2e-5
    else:
        assert np.median(curvature) > 2e-5


def test_motion_follows_the_speeds(textures):
    still = render_scene(textures, replace(SMALL, camera_speed=0.0, object_speed=0.0), seed=3)
    assert all(np.array_equal(still.left[0], f) for f in still.left[1:])
    moving = render_scene(textures, replace(SMALL, camera_speed=1.0, object_speed=1.5), seed=3)
    assert not np.array_equal(moving.left[0], moving.left[-1])
    pan = np.diff(moving.meta["camera_pan"])
    assert np.all(np.abs(pan) <= 1.0 + 1e-9)


def test_bad_arguments_name_themselves(textures):
    with pytest.raises(ValueError, match="textures"):
        render_scene([], SMALL, seed=0)
    with pytest.raises(ValueError, match="textures"):
        render_scene([np.zeros((8, 8), np.uint8)], SMALL, seed=0)
    with pytest.raises(ValueError, match="seed"):
        render_scene(textures, SMALL, seed=-1)
    with pytest.raises(ValueError, match="background"):
        SceneConfig(background="wavy")
    with pytest.raises(ValueError, match="max_objects"):
        SceneConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="max_disparity"):
        SceneConfig(max_disparity=-1.0)


def test_load_textures_reads_the_committed_assets():
    paths = list_textures()
    assert 8 <= len(paths) <= 10
    assert sum(p.stat().st_size for p in paths) <= 600_000
    licences = (DEFAULT_TEXTURE_DIR / "LICENSES.txt").read_text()
    images = load_textures()
    assert len(images) == len(paths)
    for path, image in zip(paths, images, strict=True):
        assert path.name in licences
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) == 384
    np.testing.assert_array_equal(read_texture(paths[0]), images[0])
    assert len(load_textures(paths[:2])) == 2


def test_split_is_deterministic_disjoint_and_stable():
    names = [Path(f"/some/where/photo-{i:03d}.jpg") for i in range(200)]
    train, test = split_textures(names, test_fraction=0.2, seed=0)
    r_train, r_test = split_textures(list(reversed(names)), 0.2, 0)
    assert set(r_train) == set(train) and set(r_test) == set(test)  # order does not matter
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(names)
    assert 20 <= len(test) <= 60
    again = split_textures(names, 0.2, 0)
    assert again == (train, test)
    # a file keeps its side when the folder moves or other files come and go
    moved = [Path("/elsewhere") / p.name for p in names[:50]]
    _, m_test = split_textures(moved, 0.2, 0)
    assert {p.name for p in m_test} == {p.name for p in test if p in names[:50]}
    assert split_textures(names, 0.2, seed=1) != (train, test)


def test_split_small_sets_keep_both_sides():
    train, test = split_textures(list_textures(), test_fraction=0.2)
    assert train and test and set(train).isdisjoint(test)
    assert split_textures(["a.jpg"], 0.5) in (([Path("a.jpg")], []), ([], [Path("a.jpg")]))
    with pytest.raises(ValueError, match="test_fraction"):
        split_textures(["a.jpg", "b.jpg"], 1.5)
    with pytest.raises(ValueError, match="paths"):
        split_textures(["x/a.jpg", "y/a.jpg"])


def test_varied_scenes_differ_from_blob_scenes_and_are_seeded():
    from spatialme.data.textures import load_textures

    textures = load_textures()
    blobs = render_scene(textures, SceneConfig(frames=1), seed=4)
    varied = render_scene(textures, SceneConfig(frames=1, shapes="varied"), seed=4)
    again = render_scene(textures, SceneConfig(frames=1, shapes="varied"), seed=4)
    np.testing.assert_array_equal(varied.left, again.left)
    assert not np.array_equal(blobs.left, varied.left)
    with pytest.raises(ValueError, match="shapes"):
        SceneConfig(shapes="cubes")
