"""A small closed-loop HTTP/1.1 load generator (keep-alive, N concurrent clients).

Lighter than an HTTP client library, so on a 2-core machine most CPU goes to the
server being measured. Used by the bench scripts; run it in its own process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int  # answers received
    errors: int  # answers other than 2xx, and connections lost or refused
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int] = field(default_factory=Counter)  # answers by status code
    connection_errors: int = 0  # connections refused, reset or closed mid-answer
    # With kinds given to run_load: each kind's latencies and answers by status code.
    kind_latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    kind_statuses: dict[str, Counter[int]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float, kind: str | None = None) -> float:
        """A latency percentile in ms, of all requests or of one kind's."""
        found = self.latencies_ms if kind is None else self.kind_latencies_ms[kind]
        ordered = sorted(found)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request and read its answer; returns the status code."""
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed by the server")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split(b" ", 2)[1])


async def _client(
    host: str,
    port: int,
    requests: list[bytes],
    kinds: list[str] | None,
    start: int,
    deadline: float,
    result: Result,
) -> None:
    """One keep-alive connection sending `requests` in turn from `start` until the
    deadline; a lost connection is counted and opened again."""
    n = start
    writer = None
    try:
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                status = await _exchange(reader, writer, requests[n % len(requests)])
            except (OSError, asyncio.IncompleteReadError):
                result.connection_errors += 1
                result.errors += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)  # a refused connection would spin otherwise
                continue
            latency_ms = (time.perf_counter() - started) * 1000
            result.latencies_ms.append(latency_ms)
            result.requests += 1
            result.statuses[status] += 1
            if kinds is not None:
                kind = kinds[n % len(kinds)]
                result.kind_latencies_ms.setdefault(kind, []).append(latency_ms)
                result.kind_statuses.setdefault(kind, Counter())[status] += 1
            n += 1
            if not 200 <= status < 300:
                result.errors += 1
    finally:
        if writer is not None:
            writer.close()


def http_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_load(
    host: str,
    port: int,
    request: bytes | list[bytes],
    clients: int,
    seconds: float,
    kinds: list[str] | None = None,
) -> Result:
    """Keep `clients` connections busy for `seconds`; count answers and latencies. With a
    list of requests, each client sends them in turn, client i starting at the i-th;
    `kinds` (one per request) groups latencies and statuses by kind as well."""
    import uvloop

    requests = request if isinstance(request, list) else [request]

    async def main() -> Result:
        result = Result(0, 0, 0.0, [])
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(host, port, requests, kinds, i, deadline, result) for i in range(clients))
        )
        result.seconds = time.perf_counter() - started
        return result

    return uvloop.run(main())
