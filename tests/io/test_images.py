"""Tests for spatialme.io.images: still images written atomically, read upright as 8-bit RGB."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from ffmedia import convert, psnr, smooth_clip

from spatialme.io.errors import VideoError
from spatialme.io.images import read_image, write_image
from spatialme.io.probing import probe
from spatialme.io.reader import read_frames


def exif_rotated_jpeg(path: Path, image: np.ndarray) -> None:
    """Write a JPEG carrying EXIF Orientation = 6 (display rotated 90 degrees clockwise)."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1])
    assert ok
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0\0\0\0"
    app1 = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])


def test_image_write_read_probe(tmp_path: Path) -> None:
    image = smooth_clip(1, h=40, w=60)[0]
    png = tmp_path / "still.png"
    write_image(png, image)
    assert np.array_equal(read_image(png), image)
    info = probe(png)
    assert info.is_image and (info.width, info.height, info.frames, info.fps) == (60, 40, 1, 1.0)
    chunks = list(read_frames(png))
    assert len(chunks) == 1 and np.array_equal(chunks[0], image[None])
    jpg = tmp_path / "still.jpg"
    write_image(jpg, image)
    assert psnr(read_image(jpg), image) > 35
    assert sorted(os.listdir(tmp_path)) == ["still.jpg", "still.png"]  # no temp files


def test_image_alpha_dropped_and_exif_applied(tmp_path: Path) -> None:
    import cv2

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA order
    rgba[..., 3] = 7
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    image = read_image(tmp_path / "alpha.png")
    assert image.shape == (20, 30, 3) and image[0, 0].tolist() == [200, 0, 0]
    exif_rotated_jpeg(tmp_path / "phone.jpg", smooth_clip(1, h=40, w=60)[0])
    assert read_image(tmp_path / "phone.jpg").shape == (60, 40, 3)
    info = probe(tmp_path / "phone.jpg")
    assert (info.width, info.height) == (40, 60)


def test_image_conversion_and_errors(tmp_path: Path, out_dir: Path) -> None:
    src = tmp_path / "photo.jpg"
    write_image(src, smooth_clip(1)[0])
    assert convert(src, out_dir) == str(out_dir / "photo_LR.png")
    with pytest.raises(ValueError, match="unsupported image suffix '.gif'"):
        write_image(out_dir / "x.gif", smooth_clip(1)[0])
    with pytest.raises(ValueError, match="image"):
        write_image(out_dir / "x.png", smooth_clip(2))
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(VideoError, match=r"^fake\.png: not an image"):
        probe(fake)
    assert os.listdir(out_dir) == ["photo_LR.png"]
