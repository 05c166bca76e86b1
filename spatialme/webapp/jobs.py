"""Job folders: one per conversion or evaluation under ``<tempdir>/spatialme-app/<32 hex id>/``."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_KEEP = "KEEP"  # marker file of a job prune_jobs leaves alone

def jobs_root() -> Path:
    """Folder holding every job folder: ``<tempdir>/spatialme-app``."""
    return Path(tempfile.gettempdir()) / "spatialme-app"


def new_job(root: str | os.PathLike | None = None) -> tuple[str, Path]:
    """Create a fresh job folder.

    Args:
        root: parent folder (``None`` = :func:`jobs_root`).

    Returns:
        ``(job_id, folder)``.
    """
    job_id = uuid.uuid4().hex
    folder = Path(root or jobs_root()) / job_id
    folder.mkdir(parents=True, exist_ok=False)
    return job_id, folder


def job_folder(job_id: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of an existing job, refusing anything that is not a job id.

    Raises:
        ValueError: ``job_id`` is not 32 hex digits, or the folder is gone (expired).
    """
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError("job_id: not a job of this app")
    folder = Path(root or jobs_root()) / job_id
    if not folder.is_dir():
        raise ValueError("job_id: this result has expired; convert again")
    return folder


def keep_job(job_id: str, root: str | os.PathLike | None = None) -> None:
    """Exempt a job from :func:`prune_jobs` (a cached example's stages stay browsable)."""
    (job_folder(job_id, root) / _KEEP).touch()


def prune_jobs(max_age_s: float = 3600.0, root: str | os.PathLike | None = None) -> int:
    """Delete job folders not modified for ``max_age_s`` seconds (except kept ones).

    Returns:
        How many folders were removed.
    """
    base = Path(root or jobs_root())
    if not base.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for child in base.iterdir():
        old = child.is_dir() and _JOB_ID.fullmatch(child.name) and child.stat().st_mtime < cutoff
        if old and not (child / _KEEP).exists():
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed

