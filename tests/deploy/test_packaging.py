"""Building the package says nothing alarming: no setuptools deprecation of the license
table, no data folder left out of `packages` (the web UI), and the wheel ships the UI."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def test_the_wheel_builds_without_setuptools_warnings_and_ships_the_ui(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    output = built.stdout + built.stderr
    assert "SetuptoolsDeprecationWarning" not in output
    assert "is absent from the `packages` configuration" not in output
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "hippo/api/ui/index.html" in names
    assert any(n.startswith("hippo/api/ui/") and n.endswith(".js") for n in names)
