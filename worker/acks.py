"""ACKNOWLEDGE calls pipelined on one keep-alive HTTP/1.1 connection.

A busy leader acknowledges three updates per task; one httpx request costs ~3 ms of
CPU here, so acknowledgements alone would saturate the event loop. Mesos (libprocess)
and uvicorn both answer pipelined requests in order, so a batch is written at once and
its answers read back in order. Plain http only; anything else, or any error, is left
to the caller's fallback (and Mesos resends what was not acknowledged).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from hippo.worker.mesos import TaskStatus
from hippo.worker.mesos.messages import acknowledge_call

log = logging.getLogger(__name__)


class AckPipeline:
    def __init__(self) -> None:
        self._url: str | None = None
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def usable(url: str | None) -> bool:
        return url is not None and url.startswith("http://")

    async def acknowledge(
        self, url: str, stream_id: str, framework_id: str, statuses: Sequence[TaskStatus]
    ) -> None:
        """Acknowledge every status (each with uuid and agent id); raises OSError or
        ValueError when the connection fails or a call is refused."""
        parts = urlsplit(url)
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Mesos-Stream-Id: {stream_id}\r\n"
        )
        requests = []
        for s in statuses:
            assert s.agent_id and s.uuid
            body = json.dumps(
                acknowledge_call(framework_id, s.agent_id, s.task_id, s.uuid)
            ).encode()
            requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        async with self._lock:
            try:
                reader, writer = await self._connect(url, parts.hostname or "", parts.port or 80)
                writer.write(b"".join(requests))
                await writer.drain()
                for _ in requests:
                    status = await _read_response(reader)
                    if status not in (200, 202):
                        raise ValueError(f"ACKNOWLEDGE answered {status}")
            except BaseException:
                self.close()
                raise

    async def _connect(
        self, url: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._conn is not None and self._url == url and not self._conn[1].is_closing():
            return self._conn
        self.close()
        self._conn = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        self._url = url
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    if headers.get("connection", "").lower() == "close":
        raise OSError("the master closed the connection")
    return status
