"""What synthetic scenes are painted with: silhouette mattes."""

from __future__ import annotations

import numpy as np
import pytest

from spatialme.data.sprites import SILHOUETTES, silhouette_matte


def test_varied_silhouettes_have_their_shapes():
    rng = np.random.default_rng(0)
    mattes = {kind: silhouette_matte(rng, 60, 80, kind) for kind in SILHOUETTES}
    for kind, alpha in mattes.items():
        assert alpha.shape == (60, 80) and alpha.dtype == np.float32 and 0 <= alpha.min() and alpha.max() <= 1
        assert (alpha > 0.5).mean() > 0.03, kind  # something is drawn
        assert (alpha[:2] == 0).all() and (alpha[:, -2:] == 0).all(), kind  # the zero margin
    assert mattes["ring"][30, 40] == 0 and mattes["blob"][30, 40] == 1  # the ring's hole shows the background
    partial = {k: ((a > 0.05) & (a < 0.95)).sum() / max(1, (a > 0.5).sum()) for k, a in mattes.items()}
    assert partial["fringe"] > partial["blob"]  # hair-like strands: more fractional coverage
    with pytest.raises(ValueError, match="kind"):
        silhouette_matte(rng, 10, 10, "cube")
