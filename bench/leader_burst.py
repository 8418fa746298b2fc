"""A leader burst on its own, for profiling changes quickly: N tasks waiting, one worker,
the generous simulated cluster of bench/scheduler.py; tasks/s to RUNNING recorded and
CPU per launch (leader, dev master, Redis), repeated. Not a module of bench/run (no
`run`): bench/run --only scheduler gives the full picture.

    python -m bench.leader_burst [--waiting 10000] [--repeats 3] [--queue] [--realistic]

`--queue`: a queue's runs, each with its own item (cluster.seed_queue_waiting).
`--realistic`: the realistic simulated cluster (100 agents, offers every 1 s) instead.
"""

from __future__ import annotations

import argparse
import os

from bench.cluster import GENEROUS, REALISTIC, Services
from bench.scheduler import hippo_launches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queue", action="store_true", help="a queue's runs, an item each")
    parser.add_argument("--realistic", action="store_true", help="the realistic cluster")
    args = parser.parse_args()
    cluster = REALISTIC if args.realistic else GENEROUS
    what = "queue tasks" if args.queue else "tasks"
    svc = Services()
    try:
        for _ in range(args.repeats):
            found = hippo_launches(svc, cluster, args.waiting, args.queue)
            cpu = found["cpu_ms_per_launch"]
            print(
                f"{args.waiting:,} {what} waiting: {found['running_rate']:,.0f} tasks/s to RUNNING"
                f" ({found['accept_rate']:,.0f}/s to ACCEPT); CPU ms per launch: leader"
                f" {cpu['leader']:.3f}, dev master {cpu['master']:.3f}, redis"
                f" {cpu['redis']:.3f}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        svc.close()


if __name__ == "__main__":
    main()
