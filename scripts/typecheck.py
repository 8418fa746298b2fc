"""`mypy --strict` over the installed package layout.

The repository keeps `api/`, `worker/`, `shared/` and `devmaster/` at the top, and
pyproject's `package-dir` installs them as `hippo.api`, `hippo.worker`, ... mypy names a
module after its folders and has no such mapping, so this builds a tree of symlinks
(`build/typecheck/hippo/...`, scripts/layout.py) from `package-dir` itself, checks
`-p hippo` there, and prints paths as they are in the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from layout import build_tree

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def main() -> int:
    mapped = build_tree(ROOT, TREE)
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
