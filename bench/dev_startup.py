"""How long `hippo dev` takes to be ready, from the command to the UI answering and to
a first task finishing.

    python bench/dev_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx

TASK = {
    "id": "hello",
    "container": {"docker": {"image": "alpine"}},
    "cpus": 0.1,
    "mem": 32,
    "cmd": "echo hello from Hippo",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run() -> tuple[float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
    started = time.perf_counter()
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/ui/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.01)
        ui_s = time.perf_counter() - started
        mesos_id = httpx.post(f"{url}/tasks/", json=TASK).json()["mesos_id"]
        while httpx.get(f"{url}/tasks/{mesos_id}/").json()["mesos_state"] != "TASK_FINISHED":
            time.sleep(0.01)
        return ui_s, time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for name, values in (
        ("UI answering", [r[0] for r in runs]),
        ("first task TASK_FINISHED", [r[1] for r in runs]),
    ):
        print(
            f"{name}: median {statistics.median(values):.2f} s, "
            f"runs {', '.join(f'{v:.2f}' for v in values)}"
        )


if __name__ == "__main__":
    main()
