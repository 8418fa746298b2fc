"""Whether a port can be listened on, and what to tell a user whose port is taken
(`hippo api` and `hippo dev` check before starting: uvicorn's own error names no fix)."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    """Whether `host:port` can be listened on now (nothing else holds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def busy_port_message(command: str, host: str, port: int) -> str:
    """The hint for a port another process holds (another hippo dev or hippo api?)."""
    return (
        f"{command}: {host}:{port} is in use (another hippo dev or hippo api?); "
        f"stop it, or choose another port with --port, e.g. --port {port + 11}"
    )
