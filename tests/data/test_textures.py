"""Texture helpers: varied looks for training scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spatialme.data.textures import load_textures, vary_texture


def test_vary_texture_keeps_the_structure_and_changes_the_colours():
    texture = next(t for t in load_textures() if t.shape[0] != t.shape[1])  # a transpose shows
    shapes, changed = set(), 0
    for seed in range(8):
        out = vary_texture(texture, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        shapes.add(out.shape)
        assert sorted(out.shape[:2]) == sorted(texture.shape[:2]) and out.shape[2] == 3
        # undo the flips / transpose by matching the orientation: the edges stay where the photo's are
        candidates = [out, out[::-1], out.transpose(1, 0, 2), out.transpose(1, 0, 2)[::-1]]
        edges = lambda im: cv2.Canny(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), 50, 150) > 0
        ref = edges(texture)
        overlap = max((edges(np.ascontiguousarray(c)) & ref).sum() / max(ref.sum(), 1) for c in candidates if c.shape == texture.shape)
        assert overlap > 0.3  # the same photo's structure
        changed += not np.array_equal(out, texture)
    assert changed == 8 and len(shapes) == 2  # transposed or not across seeds
    np.testing.assert_array_equal(vary_texture(texture, np.random.default_rng(5)), vary_texture(texture, np.random.default_rng(5)))


def test_vary_texture_refuses_what_is_not_an_rgb_image():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="texture"):
        vary_texture(np.zeros((8, 8), np.uint8), rng)
    with pytest.raises(ValueError, match="texture"):
        vary_texture(np.zeros((8, 8, 3), np.float32), rng)
