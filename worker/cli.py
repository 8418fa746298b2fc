"""`hippo worker`: a worker process (queue polling, and the Mesos framework when leader)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from hippo.shared.errors import SettingsError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "worker",
        help="run a worker: polls queues; the elected leader runs the Mesos framework",
        description="Run a worker process. Every worker polls the queues it holds a lease "
        "on; one, elected through Redis, also runs the Mesos framework (offers, launches, "
        "status updates, kills). Run as many as you like: they share the work. Settings "
        "come from HIPPO_* variables (README, Configuration).",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port; 0 turns it off (default HIPPO_METRICS_PORT)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hippo.shared.gc_tuning import tune_for_service
    from hippo.shared.logs import setup_logging
    from hippo.shared.settings import Settings
    from hippo.worker.main import run_worker

    try:
        settings = Settings.from_env()
    except SettingsError as e:
        raise SystemExit(f"hippo worker: {e}") from None
    setup_logging(settings.log_level, settings.log_format)
    if settings.dev_secret_key_warning:
        logging.getLogger("hippo.worker").warning("%s", settings.dev_secret_key_warning)
    # httpx logs every request at INFO: each callback (worker/callbacks.py) would be a line.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    if port < 0:
        raise SystemExit(f"hippo worker: --metrics-port must be >= 0, got {port}")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    tune_for_service()
    code = runner.run(run_worker(settings, metrics_port=port))
    # run_worker released the lock and closed what matters. Exit now rather than wait in
    # the runner's shutdown for a stray task or thread (e.g. a blocked Redis read).
    logging.shutdown()
    os._exit(code)
