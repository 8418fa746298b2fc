"""`hippo dev`: everything on one machine, nothing else needed.

Starts an embedded Redis (fakeredis's TCP server; a real one when HIPPO_REDIS_URL
is set) and the API on --port.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading

log = logging.getLogger("hippo.dev")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dev", help="run Hippo on this machine, nothing else needed")
    parser.add_argument("--port", type=int, default=8080, help="API port (default %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.set_defaults(run=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_embedded_redis() -> str:
    """A fakeredis TCP server on a free port, in a daemon thread; returns its URL."""
    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True).start()
    return f"redis://127.0.0.1:{port}/0"


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from hippo.api.app import create_app
    from hippo.shared.settings import Settings

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "HIPPO_REDIS_URL" not in os.environ:
        os.environ["HIPPO_REDIS_URL"] = start_embedded_redis()
        log.info("embedded Redis (fakeredis) at %s; its data goes when hippo dev stops",
                 os.environ["HIPPO_REDIS_URL"])
    app = create_app(Settings.from_env())
    url = f"http://{args.host}:{args.port}"
    print(f"Hippo API at {url}/  (try: curl {url}/queuetypes/)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
