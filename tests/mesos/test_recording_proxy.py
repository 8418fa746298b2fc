"""The recording proxy itself: stopping it never leaks a connection.

A leaked socket surfaces as a ResourceWarning in whichever later test the garbage
collector happens to run in, which made unrelated tests fail now and then.
"""

from __future__ import annotations

import gc
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from .recording_proxy import RecordingProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_stopping_with_a_connection_just_accepted_leaks_no_socket() -> None:
    # A connection made right before stop() is accepted by the kernel but may not
    # have reached the proxy's handler yet: the window where sockets leaked. The
    # target is a port with nothing listening, so that no backlog fills up there.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        for _ in range(50):
            proxy = RecordingProxy("127.0.0.1", unused.getsockname()[1]).start()
            with socket.create_connection(("127.0.0.1", proxy.port)):
                proxy.stop()
    # pytest turns a ResourceWarning raised here into a failure of this test.
    gc.collect()


def test_stopping_while_connections_end_by_themselves_leaks_no_socket(echo_port: int) -> None:
    # A connection closing on its own while stop() runs: its handler is already
    # cleaning up when stop() ends it too (this once interrupted the cleanup).
    for _ in range(50):
        proxy = RecordingProxy("127.0.0.1", echo_port).start()
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"  # both legs of the pipe are up
        proxy.stop()
    gc.collect()


def test_bytes_pass_unchanged_both_ways(echo_port: int) -> None:
    proxy = RecordingProxy("127.0.0.1", echo_port).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as client:
            payload = bytes(range(256)) * 1000
            client.sendall(payload)
            received = b""
            while len(received) < len(payload):
                received += client.recv(65536)
        assert received == payload
    finally:
        proxy.stop()
