"""`hippo api`: serve the REST API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile

from hippo.shared.errors import SettingsError
from hippo.shared.logs import setup_logging
from hippo.shared.settings import Settings

log = logging.getLogger("hippo.api")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "api",
        help="serve the REST API and web UI",
        description="Serve the REST API (/openapi.json describes it) and the web UI "
        "(/ui/) with uvicorn. Stateless: run as many as you like behind a load balancer, "
        "all on the same Redis. Settings come from HIPPO_* variables (README, "
        "Configuration).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default %(default)s)"
    )
    parser.set_defaults(run=run)


def _metrics_folder() -> None:
    """Give prometheus-client's multiprocess mode a fresh folder shared by the workers.

    Set before anything imports prometheus_client: it picks its storage at import."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hippo-api-metrics-")


def run(args: argparse.Namespace) -> int:
    _metrics_folder()
    import uvicorn

    from hippo.api.app import startup_warnings

    try:
        settings = Settings.from_env()
    except SettingsError as e:
        raise SystemExit(f"hippo api: {e}") from None
    from hippo.shared.listen import busy_port_message, port_is_free

    if not port_is_free(args.host, args.port):
        raise SystemExit(busy_port_message("hippo api", args.host, args.port))
    setup_logging(settings.log_level, settings.log_format, settings.api_access_log)
    for warning in startup_warnings(settings):
        log.warning("%s", warning)
    uvicorn.run(
        "hippo.api.app:serve_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=settings.api_access_log,
    )
    return 0
