"""The one weights resolver: shipped, local folders (either layout), Hub ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spatialme.inpaint.network import GatedInpainter
from spatialme.weights import SHIPPED_WEIGHTS, find_component, holds_model, resolve_weights


def test_find_component_takes_the_weights_layout_or_the_model_itself(tmp_path):
    torch.manual_seed(0)
    model = GatedInpainter(base_channels=4, levels=2, dilations=(2,))
    model.save_pretrained(tmp_path / "root" / "inpainter")
    model.save_pretrained(tmp_path / "alone")
    assert find_component(tmp_path / "root", "inpainter") == tmp_path / "root" / "inpainter"
    assert find_component(str(tmp_path / "alone"), "inpainter") == tmp_path / "alone"
    assert holds_model(find_component(None, "inpainter")) and find_component(None, "refiner").parent == SHIPPED_WEIGHTS
    with pytest.raises(FileNotFoundError, match="no trained refiner at .*python -m spatialme train"):
        find_component(tmp_path / "root", "refiner")


def test_a_path_is_always_local_and_a_repo_id_goes_to_the_hub():
    assert resolve_weights(Path("not/here")) == Path("not/here")  # never mistaken for a Hub repo id
    with pytest.raises(FileNotFoundError, match="cannot fetch 'nobody-here/no-weights'"):
        resolve_weights("nobody-here/no-weights")  # tests are offline
