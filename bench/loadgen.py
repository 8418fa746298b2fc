"""A small closed-loop HTTP/1.1 load generator (keep-alive, N concurrent clients).

Lighter than an HTTP client library, so on a 2-core machine most CPU goes to the
server being measured. Used by the bench scripts; run it in its own process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _client(
    host: str, port: int, request: bytes | list[bytes], deadline: float, result: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    requests = request if isinstance(request, list) else [request]
    n = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[n % len(requests)])
            n += 1
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            if not status_line.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                result.errors += 1
    finally:
        writer.close()


def http_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_load(
    host: str, port: int, request: bytes | list[bytes], clients: int, seconds: float
) -> Result:
    """Keep `clients` connections busy for `seconds`; count answers and latencies."""
    import uvloop

    async def main() -> Result:
        result = Result(0, 0, 0.0, [])
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(host, port, request, deadline, result) for _ in range(clients))
        )
        result.seconds = time.perf_counter() - started
        return result

    return uvloop.run(main())
