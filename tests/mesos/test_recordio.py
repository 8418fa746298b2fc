"""RecordIO decoding and the client's pure helpers: no network."""

from __future__ import annotations

import json
import random

import pytest

from hippo.devmaster.model import record
from hippo.worker.mesos import RecordIOError, Subscribed, Update
from hippo.worker.mesos.events import parse_event
from hippo.worker.mesos.masters import backoff_delays, parse_masters, redirect_target
from hippo.worker.mesos.recordio import RecordIODecoder, encode_record

RECORDS = [
    b'{"type":"HEARTBEAT"}',
    json.dumps(
        {"type": "UPDATE", "update": {"status": {"task_id": {"value": "t\u00e9"}}}}
    ).encode(),
    b"{}",
    b'{"type":"OFFERS","offers":{"offers":[]}}' * 50,
]


def test_the_documented_example_decodes_to_one_record() -> None:
    assert RecordIODecoder().feed(b'20\n{"type":"HEARTBEAT"}') == [b'{"type":"HEARTBEAT"}']


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 19, 20, 21, 64, 4096])
def test_records_survive_any_chunk_boundaries(chunk_size: int) -> None:
    stream = b"".join(encode_record(r) for r in RECORDS)
    decoder = RecordIODecoder()
    out: list[bytes] = []
    for start in range(0, len(stream), chunk_size):
        out += decoder.feed(stream[start : start + chunk_size])
    assert out == RECORDS
    assert not decoder.pending


def test_random_split_points_yield_the_same_records() -> None:
    stream = b"".join(encode_record(r) for r in RECORDS * 5)
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 10))
        decoder = RecordIODecoder()
        out: list[bytes] = []
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            out += decoder.feed(stream[a:b])
        assert out == RECORDS * 5


def test_a_partial_record_stays_pending() -> None:
    decoder = RecordIODecoder()
    assert decoder.feed(b'20\n{"type"') == []
    assert decoder.pending


@pytest.mark.parametrize("garbage", [b"abc\n{}", b"-1\n", b"\n{}", b"9" * 30])
def test_garbage_length_prefix_is_a_recordio_error(garbage: bytes) -> None:
    with pytest.raises(RecordIOError):
        RecordIODecoder().feed(garbage)


def test_oversized_record_is_refused() -> None:
    with pytest.raises(RecordIOError, match="exceeds"):
        RecordIODecoder(max_record_bytes=10).feed(b"11\n")


def test_events_are_typed() -> None:
    sub = parse_event(
        b'{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"F1"},'
        b'"heartbeat_interval_seconds":15.0}}'
    )
    assert isinstance(sub, Subscribed) and sub.framework_id == "F1"
    assert sub.heartbeat_interval_s == 15.0
    upd = parse_event(
        b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},'
        b'"state":"TASK_FINISHED","agent_id":{"value":"S1"},"uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}}'
    )
    assert isinstance(upd, Update)
    assert upd.status.terminal and upd.status.agent_id == "S1"
    with pytest.raises(RecordIOError):
        parse_event(b"[1]")


def test_master_list_accepts_bare_host_ports_and_urls() -> None:
    assert parse_masters("m1:5050, https://m2 ,m3:5051") == [
        "http://m1:5050",
        "https://m2:5050",
        "http://m3:5051",
    ]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("//m2:5050/api/v1/scheduler", "https://m2:5050/api/v1/scheduler"),
        ("m2:5050", "https://m2:5050/api/v1/scheduler"),
        ("http://m2:5050/api/v1/scheduler", "http://m2:5050/api/v1/scheduler"),
    ],
)
def test_redirect_location_is_resolved_against_the_current_scheme(
    location: str, expected: str
) -> None:
    assert redirect_target("https://m1:5050/api/v1/scheduler", location) == expected


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = backoff_delays(0.5, 4.0, jitter=0.0)
    assert [next(delays) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "HEARTBEAT"},
        {"type": "UPDATE", "update": {"status": {"task_id": {"value": "t"}, "timestamp": 1.5}}},
        {"type": "UPDATE", "update": {"status": {"task_id": {"value": "t\u00e9\U0001f600"}}}},
        {"type": "SUBSCRIBED", "subscribed": {"master_info": {"ip": 2**64, "port": 5050}}},
    ],
)
def test_the_dev_masters_records_are_the_json_it_always_wrote(event: dict[str, object]) -> None:
    """Non-ASCII text escaped, integers beyond 64 bits written: json.dumps' bytes."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    assert record(event) == b"%d\n%s" % (len(payload), payload)
