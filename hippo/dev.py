"""`hippo dev`: all of Hippo on one machine, nothing else needed.

One process runs an embedded Redis (fakeredis's TCP server; a real one when
HIPPO_REDIS_URL is set), the dev master with one local agent, the API and web UI,
and one worker. The worker runs on the main thread, so Ctrl-C reaches it; the
others run on threads and stop with it, so nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from hippo.shared.settings import Settings

log = logging.getLogger("hippo.dev")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dev",
        help="run all of Hippo on this machine, nothing else needed",
        description="Run all of Hippo in one process for trying it out and development: "
        "an embedded Redis (or HIPPO_REDIS_URL's), the dev master with one local agent "
        "that runs each task's command as a local process, the API and web UI, and one "
        "worker. Ctrl-C stops everything, task processes included.",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="API and UI port (default %(default)s)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--cpus",
        type=float,
        default=float(os.cpu_count() or 1),
        help="CPUs the local agent offers (default: this machine's)",
    )
    parser.add_argument("--mem", type=float, default=4096, help="MB the local agent offers")
    parser.add_argument(
        "--redis-port",
        type=int,
        default=6399,
        help="port of the embedded Redis (default %(default)s; 0: any free one)",
    )
    parser.set_defaults(run=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_embedded_redis(port: int = 0) -> str:
    """A fakeredis TCP server (on a free port for 0), in a daemon thread; returns its URL."""
    from fakeredis import TcpFakeServer

    port = port or _free_port()
    try:
        server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    except OSError as e:
        raise SystemExit(
            f"hippo dev: cannot serve the embedded Redis on port {port} ({e}); "
            "choose another with --redis-port"
        ) from None
    # One thread per client connection; daemon threads, so open connections never
    # keep the process alive after Ctrl-C.
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True).start()
    return f"redis://127.0.0.1:{port}/0"


def _start_api(settings: Settings, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    import uvicorn

    from hippo.api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=settings.api_access_log,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"hippo dev: the API could not start on {host}:{port}")
        time.sleep(0.01)
    return server, thread


def banner(
    settings: Settings, url: str, master_url: str, cpus: float, mem: float, took_s: float
) -> str:
    """What `hippo dev` prints once everything is up: addresses and a first task."""
    from hippo.shared.secrets import mask_url_password

    # HIPPO_REDIS_URL may be a real Redis with a password: the terminal is no place for it.
    redis_url = mask_url_password(settings.redis_url)
    # The tokens are the user's secrets: the banner names the variable, never a value.
    token_setup = (
        "  export HIPPO_TOKEN=<a write token of HIPPO_API_TOKENS>\n" if settings.api_tokens else ""
    )
    auth = ' -H "Authorization: Bearer $HIPPO_TOKEN"' if settings.api_tokens else ""
    return f"""
Hippo is up in {took_s:.1f} s.
  web UI:      {url}/ui/
  API:         {url}/  (spec: {url}/openapi.json)
  Redis:       {redis_url}
  dev master:  {master_url}/state  (1 agent, {cpus:g} CPUs, {mem:g} MB)
For the hippo CLI (hippo tasks list, hippo status ...) in another terminal:
  export HIPPO_URL={url}
{token_setup}Run a first task:
  curl -s -XPOST {url}/tasks/ -H 'Content-Type: application/json'{auth} \\
    -d '{{"id": "hello", "container": {{"docker": {{"image": "alpine"}}}}, "cpus": 0.1, "mem": 32, "cmd": "echo hello from Hippo"}}'
Ctrl-C stops everything, the tasks' processes included.
"""  # noqa: E501 - the curl line is meant to be copied whole


def dev_settings(
    env: Mapping[str, str], *, master_url: str, redis_url: str | None = None
) -> Settings:
    """`hippo dev`'s settings: the environment's, aimed at the dev master and, when given,
    the embedded Redis. Built as a mapping, so os.environ stays as the user set it."""
    from hippo.shared.settings import Settings

    # A short leader lock unless the user chose one: a `hippo dev` restarted after a crash
    # (its lock left in a real Redis) leads again within seconds, not a lock expiry later.
    values = {"HIPPO_LOCK_EXPIRE_S": "5", **env, "HIPPO_MESOS_MASTER": master_url}
    if redis_url is not None:
        values["HIPPO_REDIS_URL"] = redis_url
    return Settings.from_env(values)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from hippo.devmaster.config import MasterConfig
    from hippo.devmaster.server import DevMaster
    from hippo.shared.errors import SettingsError
    from hippo.shared.listen import busy_port_message, port_is_free
    from hippo.shared.logs import setup_logging
    from hippo.shared.settings import Settings
    from hippo.worker.main import run_worker

    if not port_is_free(args.host, args.port):
        raise SystemExit(busy_port_message("hippo dev", args.host, args.port))
    env = dict(os.environ)
    try:
        # Every variable checked before anything starts; the log settings are used now.
        checked = Settings.from_env(env)
    except SettingsError as e:
        raise SystemExit(f"hippo dev: {e}") from None
    setup_logging(checked.log_level, checked.log_format, checked.api_access_log)
    if checked.dev_secret_key_warning:
        log.warning("%s", checked.dev_secret_key_warning)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redis_url = None
    if "HIPPO_REDIS_URL" not in env:
        redis_url = start_embedded_redis(args.redis_port)
        log.info("embedded Redis (fakeredis) at %s: its data goes when hippo dev stops", redis_url)
    master = DevMaster(
        MasterConfig(agents=1, cpus=args.cpus, mem_mb=args.mem, remove_work_dir_on_stop=True)
    ).start()
    settings = dev_settings(env, master_url=master.url, redis_url=redis_url)
    server, api_thread = _start_api(settings, args.host, args.port)
    print(
        banner(
            settings,
            f"http://{args.host}:{args.port}",
            master.url,
            args.cpus,
            args.mem,
            time.monotonic() - started,
        ),
        flush=True,
    )
    try:
        code = asyncio.run(run_worker(settings, metrics_port=0))
    finally:
        server.should_exit = True
        api_thread.join(10)
        master.stop()
        # The worker's last line is about a real cluster, where tasks outlive it.
        print("hippo dev: stopped; the dev master stopped its tasks with it", flush=True)
    return code
