"""The package as pip installs it: its own weights, its console script, and its requirements.

``test_installed_package_converts_with_its_own_weights`` is marked ``slow`` (about half a
minute on 2 cores): it builds and installs the package into a folder of its own, with no
network (``--no-deps --no-build-isolation --no-index``), then converts a clip with the
``full`` variant from a folder outside the repository with only that install on
``PYTHONPATH``; the installed copy compiles its numba kernels afresh. ``-m "not slow"`` leaves
it out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
#: What the build reads; the package and its weights are copied so the repository gets no build/.
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md")
FRAMES = 6


# ----------------------------------------------------------------------------- requirements


def _key(line: str) -> tuple:
    req = Requirement(line)
    return canonicalize_name(req.name), str(req.specifier), tuple(sorted(req.extras)), str(req.marker or "")


def _requirements_file(path: Path) -> list[str]:
    """The requirement lines of a requirements file, ``-r`` includes followed."""
    lines: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += _requirements_file(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def _expand(lines: list[str], project: dict) -> list[str]:
    """``spatialme[a,b]`` replaced by the extras it names."""
    extras = project["optional-dependencies"]
    out: list[str] = []
    for line in lines:
        req = Requirement(line)
        if canonicalize_name(req.name) == canonicalize_name(project["name"]):
            out += _expand([item for extra in sorted(req.extras) for item in extras[extra]], project)
        else:
            out.append(line)
    return out


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_requirements_txt_is_pyproject_runtime_and_app(project):
    """The Space installs requirements.txt; ``pip install .[app]`` must ask for the same."""
    expected = project["dependencies"] + project["optional-dependencies"]["app"]
    listed = _requirements_file(REPO / "requirements.txt")
    assert sorted(map(_key, listed)) == sorted(map(_key, expected))
    assert len(listed) == len(set(map(_key, listed)))


def test_requirements_test_txt_is_pyproject_test_extra(project):
    expected = project["dependencies"] + _expand(project["optional-dependencies"]["test"], project)
    listed = _requirements_file(REPO / "requirements-test.txt")
    assert sorted(set(map(_key, listed))) == sorted(set(map(_key, expected)))


def test_console_script_is_the_cli_main(project):
    assert project["scripts"] == {"spatialme": "spatialme.cli:main"}
    from spatialme import cli

    assert callable(cli.main)


def test_newcomer_commands_use_the_install_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Newcomer commands", 1)[1].split("\n## ", 1)[0]
    convert, tests = re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL)
    assert "pip install torch==2.13.0 -e . && python -m spatialme convert " in convert
    assert 'pip install -q torch==2.13.0 -e ".[test]" && python -m pytest' in tests
    assert tests in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_architecture_names_modules_that_exist():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"`([\w/]+(?:\.py|/))`", section))
    assert len(names) > 20
    package = REPO / "spatialme"
    missing = [n for n in sorted(names) if not ((REPO / n).exists() or (package / n).exists() or any(package.rglob(n.rstrip("/"))))]
    assert not missing, f"README's Architecture names modules that are gone: {missing}"


# ----------------------------------------------------------------------------- installed package


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".nbc", ".nbi"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install`` of a copy of the package's sources into a bare folder (returned)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "spatialme", src / "spatialme", ignore=_ignore)
    for assets in ("weights", "textures"):
        shutil.copytree(REPO / "assets" / assets, src / "assets" / assets, ignore=_ignore)
    site = root / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
           "--no-cache-dir", "--target", str(site), str(src)]
    res = subprocess.run(cmd, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return site


def _run_installed(site: Path, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``cmd`` with only the install on PYTHONPATH, offline, no Hub cache, outside the repository."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cwd / "no_hub_cache"), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_wheel_carries_the_shipped_weights(installed):
    for name in ("inpainter", "refiner"):
        for file in ("config.json", "model.safetensors"):
            shipped = REPO / "assets" / "weights" / name / file
            copy = installed / "spatialme" / "_weights" / name / file
            assert copy.is_file(), f"{copy} missing from the installed package"
            assert copy.read_bytes() == shipped.read_bytes()
    assert (installed / "bin" / "spatialme").is_file()


def test_wheel_carries_the_demo_textures(installed):
    shipped = sorted(p.name for p in (REPO / "assets" / "textures").iterdir())
    copy = installed / "spatialme" / "_textures"
    assert sorted(p.name for p in copy.iterdir() if p.name != "__pycache__") == shipped
    res = _run_installed(installed, [sys.executable, "-c", "from spatialme.data.textures import list_textures; print(list_textures()[0].parent)"],
                         installed.parent)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == copy  # the installed package finds its own textures


@pytest.mark.slow
def test_installed_package_converts_with_its_own_weights(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert REPO not in work.parents
    shutil.copy2(REPO / "examples" / "garden.mp4", work / "clip.mp4")
    shutil.copy2(REPO / "examples" / "garden_disparity.npy", work / "clip_disparity.npy")

    where = _run_installed(installed, [sys.executable, "-c", "import spatialme, spatialme.weights as w; print(spatialme.__file__); print(w.SHIPPED_WEIGHTS)"], work)
    assert where.returncode == 0, where.stderr
    module, weights = map(Path, where.stdout.split())
    assert module == installed / "spatialme" / "__init__.py"
    assert weights == installed / "spatialme" / "_weights"

    script = str(installed / "bin" / "spatialme")
    res = _run_installed(installed, [script, "convert", "clip.mp4", "--disparity", "clip_disparity.npy", "-o", "out/clip_LR.mp4",
                                     "--variant", "full", "--format", "full-sbs", "--max-frames", str(FRAMES), "--quiet"], work)
    assert res.returncode == 0, res.stdout + res.stderr
    out = work / "out" / "clip_LR.mp4"

    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(out))
    meta = reader.__next__()
    frames = list(reader)
    width, height = meta["size"]
    assert (width, height) == (2 * 256, 144)
    assert len(frames) == FRAMES
    assert all(len(frame) == width * height * 3 for frame in frames)

    usage = _run_installed(installed, [script, "--help"], work)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: spatialme ")  # the command's own name

    bad = _run_installed(installed, [script, "convert", "missing.mp4", "-o", "x.mp4"], work)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
