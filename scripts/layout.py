"""The installed layout of a checkout as a tree of symlinks: `<dest>/hippo/api -> api/`...

pyproject's `package-dir` installs `api/`, `worker/`, `shared/` and `devmaster/` as
`hippo.api`, `hippo.worker`, ... Tools that name modules after folders (mypy) or that
must import another checkout than the installed one (scripts/mutants.py) use this tree.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path


def _package_dir(root: Path) -> dict[str, str]:
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return dict(config["tool"]["setuptools"]["package-dir"])


def top_level_packages(root: Path) -> dict[str, str]:
    """{name under hippo: its folder} of the packages kept outside `hippo/`
    (`{"api": "api", "worker": "worker", ...}`); nested ones live inside these."""
    found = {}
    for name, folder in _package_dir(root).items():
        parts = name.split(".")
        if len(parts) == 2 and not folder.startswith("hippo/"):
            found[parts[1]] = folder
    return found


def build_tree(root: Path, dest: Path) -> dict[str, str]:
    """Symlinks under `dest` mirroring how `root` installs; returns {tree prefix: repo
    prefix} for turning paths in tool output back into repository paths."""
    package_dir = _package_dir(root)
    shutil.rmtree(dest, ignore_errors=True)
    top = dest / "hippo"
    top.mkdir(parents=True)
    for entry in (root / package_dir["hippo"]).iterdir():
        if entry.suffix == ".py" or (entry / "__init__.py").exists():
            (top / entry.name).symlink_to(entry)
    mapped = {f"{top}/": f"{package_dir['hippo']}/"}
    for name, folder in top_level_packages(root).items():
        (top / name).symlink_to(root / folder)
        mapped[f"{top / name}/"] = f"{folder}/"
    return mapped
