"""What the web app tells a visitor when it cannot do what was asked, in the page's own terms.

The library's errors are written for the command line and for Python callers: they name
arguments (``max_seconds: expected ...``) and flags (``--disparity FILE.npy``). A visitor
of the web page sees neither, so :func:`visitor_message` turns an error into a title and
one sentence that names what is on the page (the *Advanced* section, the *Max seconds*
slider, the *garden* example). The technical reason still goes to the server's log.
"""

from __future__ import annotations

import re

from ..depth import DepthModelUnavailable
from ..pipeline import VariantUnavailable
from ..io import VideoError
from .models import VARIANT_CHOICES

__all__ = ["DEPTH_MISSING", "FIELD_LABELS", "variant_unavailable", "visitor_message"]

#: Why a conversion without a sidecar cannot run when the server has no depth model.
DEPTH_MISSING = (
    "This server cannot estimate depth right now (its depth model is not installed). Add a disparity or depth "
    "file under 'Advanced' and convert again, or try the 'garden' example, which comes with one."
)

#: Argument names in the library's messages -> what the page calls them.
FIELD_LABELS = {
    "start": "Start (s)",
    "max_seconds": "Max seconds",
    "start, max_seconds": "Start and Max seconds",
    "divergence": "Divergence",
    "convergence": "Convergence",
    "sidecar": "The sidecar",
    "sidecar_kind": "The sidecar holds",
    "fmt": "Output format",
    "format": "Output format",
    "variant": "Variant",
    "variants": "Variants",
    "depth_size": "Depth input size",
    "disparity": "The disparity",
    "stereo": "The stereo clip",
}

_PREFIX = re.compile(r"^([a-z_]+(?:, [a-z_]+)*): ")


def variant_unavailable(variant: str) -> str:
    """Why ``variant`` cannot run on this server, naming it as the page does."""
    label = dict((v, name) for name, v in VARIANT_CHOICES).get(variant, variant)
    return (
        f"The {label} variant cannot run on this server: the learned weights it needs are not installed. "
        "Choose Poly, which always works."
    )


def visitor_message(err: BaseException) -> tuple[str, str]:
    """A title and one sentence for an error raised while planning or running a job.

    Args:
        err: the library's exception.

    Returns:
        ``(title, message)``: no argument names, no command-line flags, no tracebacks.
    """
    if isinstance(err, DepthModelUnavailable):
        return "Depth model not available", DEPTH_MISSING
    if isinstance(err, VariantUnavailable):
        found = re.search(r"variant: '([^']+)'", str(err))
        return "Variant not available", variant_unavailable(found.group(1) if found else "requested")
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, VideoError):
        return "Cannot use this file", _sentence(_relabel(text))
    return "Cannot convert with these settings", _sentence(_relabel(text))


def _relabel(text: str) -> str:
    """Replace a leading ``argument: `` with the field's label on the page."""
    found = _PREFIX.match(text)
    if not found:
        return text
    label = FIELD_LABELS.get(found.group(1))
    rest = text[found.end():]
    return f"{label}: {rest}" if label else rest


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (its start is left alone: it may be a file name)."""
    return text if text.endswith((".", "!", "?")) else text + "."
