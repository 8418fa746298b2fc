"""Leader burst: N tasks waiting, one worker, the dev master --simulate; how fast they are
all recorded TASK_RUNNING, and the CPU the leader (and the dev master) spent per launch.

Reuses bench/scheduler.py's services. Figures: tasks/s from the first offer until every
task is TASK_RUNNING in Redis; leader and dev-master CPU (utime + stime from /proc) over
that window divided by N; the load average at the end (other work on the machine).

    python bench/leader_burst.py [--count 10000] [--repeats 1] [--profile out.svg]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scheduler import KEYS, Services, metric, seed_waiting, wait

TICKS_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


def burst(svc: Services, count: int, profile: Path | None) -> dict[str, float]:
    svc.r.flushall()
    svc.start_devmaster(simulate_s=3600)
    assert svc.devmaster is not None
    seed_waiting(svc.r, count)
    proc, port = svc.start_worker(HIPPO_LOCK_EXPIRE_S="3")
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            ["py-spy", "record", "-p", str(proc.pid), "-o", str(profile), "-r", "200"]
            + (["--format", "raw"] if profile.suffix == ".txt" else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    wait(lambda: metric(port, "hippo_offers_received_total") > 0, 60, 0.002)
    began = time.perf_counter()
    leader0, master0 = cpu_s(proc.pid), cpu_s(svc.devmaster.pid)
    running = KEYS.tasks_by_state("TASK_RUNNING")
    wait(lambda: svc.r.zcard(running) >= count, 600, 0.005)
    took = time.perf_counter() - began
    leader1, master1 = cpu_s(proc.pid), cpu_s(svc.devmaster.pid)
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    svc.stop_workers()
    return {
        "to_running_per_s": count / took,
        "leader_ms_per_launch": (leader1 - leader0) * 1000 / count,
        "master_ms_per_launch": (master1 - master0) * 1000 / count,
        "load1": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy profile of the leader: .svg flame graph, .txt collapsed stacks",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services(Path(tmp))
        try:
            for _ in range(args.repeats):
                found = burst(svc, args.count, args.profile)
                print(
                    f"{args.count} waiting: {found['to_running_per_s']:.0f} tasks/s to RUNNING, "
                    f"leader {found['leader_ms_per_launch']:.3f} ms CPU/launch, "
                    f"dev master {found['master_ms_per_launch']:.3f} ms CPU/launch, "
                    f"load {found['load1']:.1f}",
                    flush=True,
                )
        finally:
            svc.close()


if __name__ == "__main__":
    main()
