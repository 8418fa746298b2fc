"""`hippo dev`: one command brings up everything; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.slow


def _processes_running(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def test_hippo_dev_runs_the_readme_task_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hippo",
            "dev",
            "--port",
            str(port),
            "--redis-port",
            str(free_port()),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/ui/").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout_s=30, what="hippo dev to serve the UI")
        task = {
            "id": "hello",
            "container": {"docker": {"image": "alpine"}},
            "cpus": 0.1,
            "mem": 32,
            "cmd": "echo hello from Hippo",
        }
        mesos_id = httpx.post(f"{url}/tasks/", json=task).json()["mesos_id"]

        def state() -> str:
            return str(httpx.get(f"{url}/tasks/{mesos_id}/").json()["mesos_state"])

        wait_until(lambda: state() == "TASK_FINISHED", timeout_s=30, what="TASK_FINISHED")

        marker = f"hippo-dev-test-{uuid.uuid4().hex}"
        long_task = dict(task, id="long", cmd=f"sleep 300; echo {marker}")
        long_id = httpx.post(f"{url}/tasks/", json=long_task).json()["mesos_id"]
        wait_until(
            lambda: httpx.get(f"{url}/tasks/{long_id}/").json()["mesos_state"] == "TASK_RUNNING",
            timeout_s=30,
            what="the long task to run",
        )
        assert _processes_running(marker)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
        log.close()
    output = (tmp_path / "dev.log").read_text()
    assert code == 0, output
    assert "Hippo is up in" in output
    # The CLI is told where this API is (it would default to 8080), and the secrets'
    # development key is warned about, as by every command that uses it.
    assert f"export HIPPO_URL=http://127.0.0.1:{port}\n" in output
    assert "HIPPO_SECRET_KEYS is not set" in output
    # The last word is about the dev master, whose tasks did stop with it.
    assert output.rstrip().endswith("hippo dev: stopped; the dev master stopped its tasks with it")
    wait_until(
        lambda: not _processes_running(marker),
        timeout_s=10,
        what="the dev master's task processes to end",
    )


def test_the_banner_masks_the_redis_password() -> None:
    from hippo.dev import banner
    from hippo.shared.settings import Settings

    settings = Settings.from_env({"HIPPO_REDIS_URL": "redis://:hunter2@cache:6379/0"})
    text = banner(settings, "http://127.0.0.1:8080", "http://127.0.0.1:5050", 2, 512, 1.0)
    assert "hunter2" not in text
    assert "Redis:       redis://:********@cache:6379/0" in text
    assert "web UI:      http://127.0.0.1:8080/ui/" in text


def test_dev_settings_aim_at_the_dev_master_and_the_embedded_redis() -> None:
    from hippo.dev import dev_settings

    settings = dev_settings(
        {"HIPPO_MESOS_MASTER": "http://elsewhere:5050", "HIPPO_REDIS_PREFIX": "mine:"},
        master_url="http://127.0.0.1:5999",
        redis_url="redis://127.0.0.1:6399/0",
    )
    assert settings.mesos_master == ("http://127.0.0.1:5999",)
    assert settings.redis_url == "redis://127.0.0.1:6399/0"
    assert settings.redis_prefix == "mine:"
    assert settings.lock_expire_s == 5


def test_dev_settings_keep_the_users_redis_and_lock_expiry() -> None:
    from hippo.dev import dev_settings

    settings = dev_settings(
        {"HIPPO_REDIS_URL": "redis://cache:6379/2", "HIPPO_LOCK_EXPIRE_S": "30"},
        master_url="http://127.0.0.1:5999",
    )
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.lock_expire_s == 30


def test_hippo_dev_leaves_the_environment_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import hippo.dev
    import hippo.shared.logs
    import hippo.worker.main
    from hippo.shared.settings import Settings

    for name in [n for n in os.environ if n.startswith("HIPPO_")]:
        monkeypatch.delenv(name)
    ran_with: list[Settings] = []

    async def worker(settings: Settings, *, metrics_port: int) -> int:
        ran_with.append(settings)
        return 0

    class Server:
        should_exit = False

    def start_api(settings: Settings, host: str, port: int) -> tuple[Server, threading.Thread]:
        thread = threading.Thread(target=lambda: None)
        thread.start()
        return Server(), thread

    # The real dev master runs; the embedded Redis, the API and the worker are stand-ins
    # that start nothing, and logging is left as pytest set it up.
    monkeypatch.setattr(hippo.dev, "start_embedded_redis", lambda port: "redis://fake:1/0")
    monkeypatch.setattr(hippo.dev, "_start_api", start_api)
    monkeypatch.setattr(hippo.worker.main, "run_worker", worker)
    monkeypatch.setattr(hippo.shared.logs, "setup_logging", lambda level, fmt, access_log: None)
    before = dict(os.environ)

    args = argparse.Namespace(host="127.0.0.1", port=8080, cpus=1.0, mem=64.0, redis_port=0)
    assert hippo.dev.run(args) == 0

    assert dict(os.environ) == before
    (settings,) = ran_with
    assert settings.redis_url == "redis://fake:1/0"
    assert settings.mesos_master[0].startswith("http://127.0.0.1:")
    assert "Hippo is up in" in capsys.readouterr().out


def test_with_tokens_the_banner_s_curl_line_sends_one_without_showing_it() -> None:
    from hippo.dev import banner
    from hippo.shared.settings import Settings

    settings = Settings.from_env({"HIPPO_API_TOKENS": "s3cret-token,read:peek"})
    text = banner(settings, "http://127.0.0.1:8091", "http://127.0.0.1:5050", 2, 512, 1.0)
    assert "s3cret-token" not in text and "peek" not in text
    assert "export HIPPO_URL=http://127.0.0.1:8091" in text
    assert "export HIPPO_TOKEN=<a write token of HIPPO_API_TOKENS>" in text
    assert '-H "Authorization: Bearer $HIPPO_TOKEN"' in text
    open_text = banner(Settings.from_env({}), "http://127.0.0.1:8080", "http://x", 2, 512, 1.0)
    assert "Authorization" not in open_text and "HIPPO_TOKEN" not in open_text


@pytest.mark.parametrize("command", ["dev", "api"])
def test_a_busy_port_is_named_with_the_flag_that_avoids_it(command: str) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
        done = subprocess.run(
            [sys.executable, "-m", "hippo", command, "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"hippo {command}: 127.0.0.1:{port} is in use" in done.stderr
    assert f"choose another port with --port, e.g. --port {port + 11}" in done.stderr
