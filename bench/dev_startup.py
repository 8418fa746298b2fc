"""`hippo dev` start-up: from the command to the UI answering and to a first task
finishing; beside a bare Python interpreter's start with Hippo's imports (the reference)."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from bench.common import free_port, measure, step

ORDER = 60

TASK = {
    "id": "hello",
    "container": {"docker": {"image": "alpine"}},
    "cpus": 0.1,
    "mem": 32,
    "cmd": "echo hello from Hippo",
}


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


def bare_start() -> float:
    """Seconds for `python -c 'import hippo.cli...'`: the interpreter and the imports
    `hippo dev` needs, with nothing started."""
    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import hippo.cli, hippo.api.app, hippo.worker.main, redis, uvicorn",
        ],
        check=True,
    )
    return time.perf_counter() - began


def run(quick: bool) -> dict[str, Any]:
    runs = 2 if quick else 5
    with step(f"hippo dev x{runs}"):
        results = [one_run() for _ in range(runs)]
        bare = statistics.median([bare_start() for _ in range(runs)])
    ui = [r[0] for r in results]
    finished = [r[1] for r in results]
    return {
        "title": "hippo dev start-up",
        "measures": [
            measure(
                f"command to UI answering, median of {runs}",
                statistics.median(ui),
                "s",
                reference=bare,
                reference_name="interpreter + imports",
                goal="< 3 s",
                better="lower",
            ),
            measure(
                f"command to first task TASK_FINISHED, median of {runs}",
                statistics.median(finished),
                "s",
                reference=bare,
                reference_name="interpreter + imports",
                better="lower",
            ),
        ],
        "ui_s": ui,
        "finished_s": finished,
        "notes": """
**How.** `python -m hippo dev` (embedded Redis, dev master, API, worker) started with
no HIPPO_* variables; the clock stops when `/ui/` answers 200, and when a first task (the
README's `echo`), posted as soon as the UI answers, is TASK_FINISHED. **Reference**:
the Python interpreter importing what `hippo dev` imports, and starting nothing.
""",
    }
