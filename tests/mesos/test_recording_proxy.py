"""The recording proxy itself: stopping it never leaks a connection.

A leaked socket surfaces as a ResourceWarning in whichever later test the garbage
collector happens to run in, which made unrelated tests fail now and then.
"""

from __future__ import annotations

import gc
import socket

from .recording_proxy import RecordingProxy


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
