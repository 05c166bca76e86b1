"""The disparity (or depth) sidecar of a clip: ``(T, H, W)`` float frames read a chunk at a time.

One loader for every caller: ``convert(disparity=...)`` (px), the comfort pass's relative
inverse depth (:mod:`spatialme.comfort.sidecar`) and the web app's uploads. A ``.npy`` is
read with plain reads (no memory map, whose touched pages would stay resident) and a
``.npz`` member is streamed in order, so memory does not grow with the clip.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .checks import check_disparity_values

__all__ = ["DisparitySource"]


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"  # a zip starts with a local header, or an empty one with its end record


class DisparitySource:
    """Frames of a ``(T, H, W)`` float disparity (px): a ``.npy``, a ``.npz`` or an array.

    Files are read a chunk at a time with plain reads (no memory map, whose touched pages
    would stay resident), so memory does not grow with the clip. A ``.npz`` holds one array,
    or one named ``disparity``; its (possibly compressed) member is streamed in order.

    Args:
        value: path or ``(T, H, W)`` array.
        name: argument name for messages.
        unit: what the values are, for messages.
        image: also accept an ``(H, W)`` array, read as one frame (a still image's sidecar).
    """

    def __init__(self, value: str | os.PathLike | np.ndarray, name: str = "disparity", unit: str = "pixels",
                 image: bool = False) -> None:
        self.name = name
        self._array: np.ndarray | None = None
        self._zip: zipfile.ZipFile | None = None
        self._member = ""
        self._stream = None
        self._at = 0  # next frame of the open .npz stream
        if isinstance(value, np.ndarray):
            self._array, self.shape, self.dtype = value, value.shape, value.dtype
        elif isinstance(value, (str, os.PathLike)):
            try:
                self._open(Path(value))
            except BaseException:
                self.close()
                raise
        else:
            raise ValueError(f"{name}: expected a .npy/.npz path or an array, got {type(value).__name__}")
        self.still = image and len(self.shape) == 2  # an (H, W) array, read as one frame
        if self.still:
            self.shape = (1, *self.shape)
            if self._array is not None:
                self._array = self._array[None]
        numeric = np.issubdtype(self.dtype, np.floating) or (self._array is not None and np.issubdtype(self.dtype, np.integer))
        if len(self.shape) != 3 or not numeric or min(self.shape) < 1:
            raise ValueError(f"{name}: expected a float (T, H, W) array of {unit}, got {self.dtype} {tuple(self.shape)}")

    # -- opening ---------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"{self.name}: file not found: {path}")
        self.path = path
        with open(path, "rb") as f:
            magic = f.read(6)
        try:
            if magic.startswith(_ZIP_MAGIC):
                self._open_npz(path)
            elif magic == _NPY_MAGIC:
                with open(path, "rb") as f:
                    self.shape, self.dtype, self._fortran = self._header(f)
                    self._offset = f.tell()
            else:
                raise ValueError(f"{self.name}: {path.name} is not a .npy or .npz file; expected a (T, H, W) float "
                                 "array saved with numpy.save (or numpy.savez)")
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{self.name}: {path.name} is not a readable .npy/.npz array ({exc.__class__.__name__})") from None

    def _header(self, f) -> tuple[tuple[int, ...], np.dtype, bool]:
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"version {version}")
            shape, fortran, dtype = read(f)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {self.path.name} is not a readable .npy array ({exc})") from None
        return tuple(shape), np.dtype(dtype), bool(fortran)

    def _open_npz(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)
        arrays = [n for n in self._zip.namelist() if n.endswith(".npy")]
        names = [n[:-4] for n in arrays]
        if len(arrays) == 1:
            self._member = arrays[0]
        elif "disparity" in names:
            self._member = "disparity.npy"
        else:
            held = ", ".join(names) if names else "no arrays"
            raise ValueError(f"{self.name}: {path.name} holds {held}; expected one array, or one named 'disparity'")
        self._rewind()

    def _rewind(self) -> None:
        assert self._zip is not None
        if self._stream is not None:
            self._stream.close()
        self._stream = self._zip.open(self._member)
        self.shape, self.dtype, self._fortran = self._header(self._stream)
        if self._fortran:
            raise ValueError(f"{self.name}: {self.path.name} holds a Fortran-ordered array; save it C-ordered "
                             "(numpy.ascontiguousarray) for streaming")
        self._at = 0

    # -- reading ---------------------------------------------------------------------------

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo:hi`` as a writable ``(hi - lo, H, W) float32`` array."""
        _, h, w = self.shape
        count = (hi - lo) * h * w
        if self._array is not None:
            return np.array(self._array[lo:hi], dtype=np.float32)
        if self._zip is None:
            if self._fortran:  # rare (a transposed array saved as is): read through a memory map
                return np.array(np.load(self.path, mmap_mode="r").reshape(self.shape)[lo:hi], dtype=np.float32)
            with open(self.path, "rb") as f:
                data = np.fromfile(f, self.dtype, count=count, offset=self._offset + lo * h * w * self.dtype.itemsize)
            if data.size != count:
                raise ValueError(f"{self.name}: {self.path.name} ends before frame {hi} (truncated file)")
            return data.reshape(hi - lo, h, w).astype(np.float32, copy=False)
        if lo < self._at:
            self._rewind()
        frame_bytes = h * w * self.dtype.itemsize
        while self._at < lo:  # skip, a frame at a time
            self._stream.read(frame_bytes)
            self._at += 1
        buf = bytearray(count * self.dtype.itemsize)
        got = self._stream.readinto(memoryview(buf))
        if got != len(buf):
            raise ValueError(f"{self.name}: {self.path.name} ends before frame {hi} (truncated archive)")
        self._at = hi
        return np.frombuffer(buf, self.dtype).reshape(hi - lo, h, w).astype(np.float32, copy=False)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as an ``(H, W) float32`` array."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name}: frame {index} of {len(self)}")
        index %= len(self)
        return self.frames(index, index + 1)[0]

    def check(self, first: int, total: int, height: int, width: int) -> None:
        """Check shape, length and values of frames ``first : first + total`` before any work.

        The values are scanned in blocks of about 64 MB (min and max only), so a NaN or a
        disparity beyond the frame width is refused before the first output frame.
        """
        if self.shape[1:] != (height, width):
            raise ValueError(f"{self.name}: expected shape (T, {height}, {width}) to match the input, got {tuple(self.shape)}")
        if self.shape[0] < first + total:
            raise ValueError(f"{self.name}: has {self.shape[0]} frames but {first + total} are needed")
        step = max(1, (64 << 20) // (height * width * 4))
        for lo in range(first, first + total, step):
            check_disparity_values(self.name, self.frames(lo, min(lo + step, first + total)), width)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._zip is not None:
            self._zip.close()
