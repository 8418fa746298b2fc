"""The `hippo` client translates httpx errors where it calls httpx: one line, an exit code."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hippo.restclient.http import ClientError, HippoClient, Unreachable

Call = Callable[[HippoClient], object]

CALLS: list[tuple[str, Call]] = [
    ("list_tasks", lambda c: c.list_tasks()),
    ("create_task", lambda c: c.create_task({"id": "x"})),
    ("kill_task", lambda c: c.kill_task("x.1")),
    ("get_task", lambda c: c.get_task("x.1")),
    ("list_queues", lambda c: c.list_queues()),
]


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> HippoClient:
    return HippoClient("http://hippo.test", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("name, call", CALLS, ids=[name for name, _ in CALLS])
def test_an_answer_that_is_not_json_is_a_client_error(name: str, call: Call) -> None:
    status = 201 if name == "create_task" else 200
    client = _client(lambda request: httpx.Response(status, text="<html>a proxy page</html>"))
    with pytest.raises(ClientError) as error:
        call(client)
    assert "did not answer JSON: is this Hippo?" in str(error.value)
    assert error.value.exit_code == 1


def test_connection_refused_is_unreachable_exit_2() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Unreachable) as error:
        _client(refuse).list_queues()
    assert str(error.value) == "cannot reach Hippo at http://hippo.test: connection refused"
    assert error.value.exit_code == 2


def test_an_answer_that_cannot_be_decoded_is_a_client_error() -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("bad gzip stream", request=request)

    with pytest.raises(ClientError) as error:
        _client(garbled).list_queues()
    assert str(error.value) == "http://hippo.test/queues/: bad gzip stream"
    assert error.value.exit_code == 1


def test_a_url_with_credentials_is_shown_masked() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = HippoClient("http://ops:hunter2@hippo.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(Unreachable) as error:
        client.list_queues()
    assert str(error.value) == (
        "cannot reach Hippo at http://ops:********@hippo.test: connection refused"
    )
