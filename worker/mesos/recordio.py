"""RecordIO framing of the subscription stream (Mesos docs/recordio.md).

Each record is an ASCII decimal length, a newline, then exactly that many bytes.
HTTP chunk boundaries mean nothing: the decoder buffers across them.
"""

from __future__ import annotations

from .errors import RecordIOError

# A record longer than this is a broken stream, not a real event (Mesos events
# with thousands of offers stay far below it).
MAX_RECORD_BYTES = 64 * 1024 * 1024
# Longest length prefix we accept before its newline: 20 digits fit any size.
MAX_PREFIX_BYTES = 20


class RecordIODecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole records back."""

    def __init__(self, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self._buffer = bytearray()
        self._expected: int | None = None  # length of the record being read
        self._max = max_record_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data` and return every record it completes, in order."""
        self._buffer += data
        records: list[bytes] = []
        while True:
            if self._expected is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > MAX_PREFIX_BYTES:
                        raise RecordIOError(
                            f"no record length in {bytes(self._buffer[:MAX_PREFIX_BYTES])!r}"
                        )
                    return records
                self._expected = self._parse_length(bytes(self._buffer[:newline]))
                del self._buffer[: newline + 1]
            if len(self._buffer) < self._expected:
                return records
            records.append(bytes(self._buffer[: self._expected]))
            del self._buffer[: self._expected]
            self._expected = None

    @property
    def pending(self) -> bool:
        """True when a partial record is buffered (the stream ended mid-record)."""
        return bool(self._buffer) or self._expected is not None

    def _parse_length(self, prefix: bytes) -> int:
        text = prefix.strip()
        if not text.isdigit():
            raise RecordIOError(f"record length must be decimal digits, got {prefix!r}")
        length = int(text)
        if length > self._max:
            raise RecordIOError(f"record length {length} exceeds {self._max} bytes")
        return length


def encode_record(payload: bytes) -> bytes:
    """Frame one record (used by tests; the master does the encoding in production)."""
    return str(len(payload)).encode("ascii") + b"\n" + payload
