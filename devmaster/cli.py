"""`hippo devmaster`: a single-process stand-in for a Mesos master and its agents."""

from __future__ import annotations

import argparse
import gc
import logging
from typing import Any

from .config import MasterConfig
from .model import format_resources


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "devmaster",
        help="run a local Mesos master stand-in with simulated agents",
        description=__doc__,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=5050, help="port to listen on (default 5050)")
    add("--agents", type=int, default=2, help="number of simulated agents (default 2)")
    add("--cpus", type=float, default=4.0, help="cpus of each agent (default 4)")
    add("--mem", type=float, default=8192.0, help="memory of each agent in MB (default 8192)")
    add("--disk", type=float, default=10240.0, help="disk of each agent in MB (default 10240)")
    add(
        "--resources",
        default="",
        help="agent resources in Mesos' syntax, e.g. 'cpus(hippo):2;mem(hippo):2048;cpus:1'"
        " ((role) reserves for the role); cpus, mem, disk not named come from the flags above",
    )
    add(
        "--roles",
        default=None,
        help="comma-separated roles frameworks may subscribe with besides '*', like Mesos'"
        " --roles whitelist; others get an ERROR event (default: any role)",
    )
    add(
        "--attributes",
        default="",
        help="agent attributes 'name:value;name:value'; {i} is the agent number, e.g. 'rack:r{i}'",
    )
    add(
        "--simulate",
        type=float,
        metavar="SECONDS",
        default=None,
        help="run no process: every task finishes after SECONDS (for benchmarks)",
    )
    add(
        "--allocation-interval",
        type=float,
        default=1.0,
        help="seconds between periodic allocations (Mesos' --allocation_interval, default 1)",
    )
    add(
        "--batch-allocation",
        action="store_true",
        help="offer recovered resources (declined, unused, of ended tasks) only at the next"
        " allocation interval, as Mesos does (default: at once)",
    )
    add("--heartbeat-interval", type=float, default=15.0, help="seconds between HEARTBEATs")
    add(
        "--update-retry",
        type=float,
        default=10.0,
        help="seconds before an unacknowledged update is resent (doubles up to 10 min)",
    )
    add(
        "--offer-timeout",
        type=float,
        default=None,
        help="rescind offers not used within this many seconds (default: never, like Mesos)",
    )
    add(
        "--agent-reregister-timeout",
        type=float,
        default=600.0,
        help="after POST /devmaster/failover, agents not back by then are unreachable "
        "(Mesos' --agent_reregister_timeout, 10 min)",
    )
    add(
        "--work-dir", default=None, help="where task sandboxes go (default: a new temporary folder)"
    )
    add(
        "--docker",
        choices=["auto", "never"],
        default="auto",
        help="auto: run DOCKER tasks with `docker run` when an engine answers",
    )
    add(
        "--credential",
        action="append",
        default=[],
        metavar="PRINCIPAL:SECRET",
        help="require HTTP basic auth with this principal (repeatable)",
    )
    add(
        "--redirect-to",
        default=None,
        metavar="HOST:PORT",
        help="act as a non-leading master: answer every scheduler call with 307 to HOST:PORT",
    )
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .server import _runner, bind, serve  # uvicorn only when the command runs

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    credentials = {}
    for item in args.credential:
        principal, sep, secret = item.partition(":")
        if not sep:
            raise SystemExit(f"--credential must be PRINCIPAL:SECRET, got {item!r}")
        credentials[principal] = secret
    config = MasterConfig(
        agents=args.agents,
        cpus=args.cpus,
        mem_mb=args.mem,
        disk_mb=args.disk,
        resources=args.resources,
        attributes=args.attributes,
        heartbeat_interval_s=args.heartbeat_interval,
        simulate_s=args.simulate,
        allocation_interval_s=args.allocation_interval,
        batch_allocation=args.batch_allocation,
        work_dir=args.work_dir,
        update_retry_s=args.update_retry,
        offer_timeout_s=args.offer_timeout,
        agent_reregister_timeout_s=args.agent_reregister_timeout,
        docker=args.docker,
        credentials=credentials,
        redirect_to=args.redirect_to,
        roles=None if args.roles is None else tuple(r for r in args.roles.split(",") if r),
        hostname=args.host,
        port=args.port,
    )
    sock = bind(args.host, args.port)

    def ready(master: Any, server: Any) -> None:
        mode = (
            f"simulated tasks ({args.simulate:g} s each)"
            if args.simulate is not None
            else (
                "tasks as local processes"
                + (
                    ", DOCKER tasks with docker run"
                    if master.use_docker
                    else " (no Docker engine: DOCKER tasks run locally)"
                )
            )
        )
        print(
            f"hippo devmaster {master.id} listening on http://{args.host}:{args.port}", flush=True
        )
        if args.redirect_to:
            print(f"  not the leader: every scheduler call is redirected to {args.redirect_to}")
        for agent in master.agents.values():
            print(
                f"  agent {agent.id} ({agent.hostname}): {format_resources(agent.total)}",
                flush=True,
            )
        print(f"  {mode}; sandboxes in {master.work_dir}", flush=True)
        print(
            f"  heartbeat every {args.heartbeat_interval:g} s; state at"
            f" http://{args.host}:{args.port}/state",
            flush=True,
        )

    # A 10,000-task ACCEPT allocates about a million objects, and the master keeps its
    # tasks: at Python's default thresholds the cyclic collector runs thousands of times
    # per ACCEPT, its oldest generation rescanning the master's whole state. Rarer
    # collections, and the objects of startup frozen out of them, take a third off the
    # dev master's CPU per launch (bench.leader_burst) and half off a big ACCEPT. The
    # youngest generation collected only every 500,000 objects: what a launch keeps
    # (its TaskInfo, its updates until acknowledged) is scanned far less often, for
    # 3 us less per launch; only garbage in cycles, which the master hardly makes,
    # waits longer.
    gc.set_threshold(500_000, 20, 100)
    gc.freeze()
    with _runner() as runner:
        try:
            runner.run(
                serve(
                    config, sock, args.log_level if args.log_level != "info" else "warning", ready
                )
            )
        except KeyboardInterrupt:
            pass
    return 0
