"""`mypy --strict` over the installed package layout.

The repository keeps `api/`, `worker/`, `shared/` and `devmaster/` at the top, and
pyproject's `package-dir` installs them as `hippo.api`, `hippo.worker`, ... mypy names a
module after its folders and has no such mapping, so this builds a tree of symlinks
(`build/typecheck/hippo/...`) from `package-dir` itself, checks `-p hippo` there, and
prints paths as they are in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def build_tree() -> dict[str, str]:
    """Symlinks mirroring the installed layout; returns {tree path prefix: repo prefix}."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    top = TREE / "hippo"
    top.mkdir(parents=True)
    for entry in (ROOT / package_dir["hippo"]).iterdir():
        if entry.suffix == ".py" or (entry / "__init__.py").exists():
            (top / entry.name).symlink_to(entry)
    mapped = {f"{top}/": f"{package_dir['hippo']}/"}
    for name, folder in package_dir.items():
        parts = name.split(".")
        if len(parts) != 2:  # nested packages live inside their parent's folder
            continue
        link = top / parts[1]
        if not link.exists():
            link.symlink_to(ROOT / folder)
        mapped[f"{link}/"] = f"{folder}/"
    return mapped


def main() -> int:
    mapped = build_tree()
    env = {**os.environ, "MYPYPATH": str(TREE)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "-p", "hippo", *sys.argv[1:]],
        cwd=TREE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout + result.stderr
    for tree_prefix, repo_prefix in sorted(mapped.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(tree_prefix, repo_prefix)
        out = out.replace(os.path.relpath(tree_prefix, TREE) + "/", repo_prefix)
    sys.stdout.write(out)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
