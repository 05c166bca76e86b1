"""Fixtures of the spatialme.io tests: the test media (built once per session) and an empty output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from ffmedia import Media


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path
