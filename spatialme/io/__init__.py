"""Media input/output: probe, stream-decode and encode clips with the bundled ffmpeg; images; atomic writes.

One module a concern (each module's docstring gives its why):

* :mod:`~spatialme.io.ffmpeg`: locating ffmpeg, the command lines we give it, parsing its text.
* :mod:`~spatialme.io.probing`: :func:`probe` and :class:`VideoLimits`, :class:`VideoInfo`: size,
  constant delivery rate, HDR, and whether a file decodes, before any decoding.
* :mod:`~spatialme.io.reader`: :func:`read_frames`, streaming chunks with a watchdog.
* :mod:`~spatialme.io.writer`: :class:`VideoWriter` (H.264 + the source audio) and the H.264 level.
* :mod:`~spatialme.io.images`: :func:`read_image`, :func:`write_image`.
* :mod:`~spatialme.io.atomic`: the one atomic writer (:func:`atomic_write`) and :class:`OutputClaim`.
* :mod:`~spatialme.io.signals`: :func:`stop_on_signals`, :func:`signals_deferred`, :class:`Stopped`.
* :mod:`~spatialme.io.naming`: image and video suffixes, :func:`output_name`.
* :mod:`~spatialme.io.errors`: :class:`VideoError`, :class:`OutputExists`.

Every name is re-exported here (and from :mod:`spatialme.video`, the old home of all of
this). A test that monkeypatches a constant patches the module that defines it, for example
``spatialme.io.writer.H264_MAX_MACROBLOCKS``: the functions read it there.
"""

from __future__ import annotations

from .atomic import OutputClaim, atomic_write
from .errors import OutputExists, VideoError
from .ffmpeg import LARGE_FRAME_PIXELS, ffmpeg_exe
from .images import read_image, write_image
from .naming import (
    IMAGE_EXTENSIONS,
    OUTPUT_VIDEO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_image_path,
    output_name,
)
from .probing import MAX_FPS, VideoInfo, VideoLimits, choose_fps, probe, tonemap_filter
from .reader import read_frames
from .signals import Stopped, signals_deferred, stop_on_signals
from .writer import H264_MAX_MACROBLOCKS, VideoWriter, h264_fit

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "OUTPUT_VIDEO_EXTENSIONS",
    "H264_MAX_MACROBLOCKS",
    "LARGE_FRAME_PIXELS",
    "MAX_FPS",
    "OutputClaim",
    "OutputExists",
    "Stopped",
    "VideoError",
    "VideoLimits",
    "VideoInfo",
    "VideoWriter",
    "atomic_write",
    "choose_fps",
    "ffmpeg_exe",
    "h264_fit",
    "is_image_path",
    "output_name",
    "probe",
    "read_frames",
    "read_image",
    "signals_deferred",
    "stop_on_signals",
    "tonemap_filter",
    "write_image",
]
