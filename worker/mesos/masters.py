"""Where the masters are, and how long to wait between attempts: pure functions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import urlsplit

from .errors import MesosConfigError

SCHEDULER_PATH = "/api/v1/scheduler"


def parse_masters(spec: str, default_scheme: str = "http") -> list[str]:
    """Base URLs from a comma-separated list such as `m1:5050,https://m2:5050`.

    Entries without a scheme get `default_scheme`; a missing port means 5050.
    """
    masters: list[str] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        if entry.startswith("zk://"):
            raise MesosConfigError(
                f"zk:// master detection is not supported yet, got {entry!r}: "
                "list the masters as host:port,host:port"
            )
        if "://" not in entry:
            entry = f"{default_scheme}://{entry}"
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MesosConfigError(f"master must be http(s)://host[:port], got {entry!r}")
        port = parts.port or 5050
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        masters.append(f"{parts.scheme}://{host}:{port}")
    if not masters:
        raise MesosConfigError(f"no Mesos master in {spec!r}")
    return masters


def scheduler_url(master: str) -> str:
    return master.rstrip("/") + SCHEDULER_PATH


def redirect_target(current_url: str, location: str) -> str:
    """Resolve a 307 Location; Mesos sends a protocol-relative `//host:port/path`."""
    location = location.strip()
    if not location:
        raise MesosConfigError(f"307 from {current_url} without a Location")
    scheme = urlsplit(current_url).scheme or "http"
    if location.startswith("//"):
        url = f"{scheme}:{location}"
    elif "://" in location:
        url = location
    else:
        # Old masters answered `host:port` without slashes.
        url = f"{scheme}://{location}"
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else SCHEDULER_PATH
    return f"{parts.scheme}://{parts.netloc}{path}"


def backoff_delays(
    initial_s: float = 0.5,
    cap_s: float = 15.0,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Truncated exponential backoff with +-`jitter` relative noise, forever."""
    rand = rng or random.Random()
    delay = initial_s
    while True:
        yield delay * (1 + jitter * (2 * rand.random() - 1))
        delay = min(delay * 2, cap_s)
