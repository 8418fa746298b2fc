"""Exceptions raised by the Mesos scheduler client.

Connection, HTTP and JSON errors are translated here, at the client's edge, so callers only
ever catch `MesosError` and its subclasses:

    MesosError
    ├── MesosConfigError        bad master list, CA bundle, framework settings
    ├── RecordIOError           the event stream is not valid RecordIO / JSON
    ├── MesosConnectionError    no master answered (network error, timeout)
    │   └── MesosNotSent        the call never left: no connection could be opened
    ├── MesosNotSubscribed      a call was made while no subscription is live
    ├── MesosHTTPError          a master answered with an unexpected status
    │   ├── MesosUnavailable    503: no leader elected / still recovering
    │   ├── MesosBadRequest     400: malformed call, stale stream id, ...
    │   └── MesosForbidden      401/403: not subscribed, not authenticated
    └── MesosFrameworkError     an ERROR event ended the subscription for good
        ├── FrameworkFailedOver a newer scheduler subscribed with our framework id
        └── FrameworkRemoved    the framework was torn down or timed out
"""

from __future__ import annotations


class MesosError(Exception):
    """Base of every error the Mesos client raises."""


class MesosConfigError(MesosError):
    """The client was configured with a value it cannot use."""


class RecordIOError(MesosError):
    """The subscription stream is not valid RecordIO, or a record is not JSON."""


class MesosConnectionError(MesosError):
    """A master could not be reached, or the connection broke."""


class MesosNotSent(MesosConnectionError):
    """A call that never left: the connection it was to go on could not be opened, so
    no master can have taken it (an ACCEPT's tasks can wait again at once)."""


class MesosNotSubscribed(MesosError):
    """A call needs a live subscription (a stream id) and there is none."""


class MesosOffersGone(MesosNotSubscribed):
    """An ACCEPT with offers of a subscription that has ended: the master invalidated
    them (it would end the tasks TASK_LOST/TASK_DROPPED, REASON_INVALID_OFFERS), so
    nothing was sent."""


class MesosHTTPError(MesosError):
    """A master answered with an HTTP status the client did not expect."""

    def __init__(self, status_code: int, message: str, url: str = "") -> None:
        self.status_code = status_code
        self.body = message
        self.url = url
        where = f" from {url}" if url else ""
        super().__init__(f"HTTP {status_code}{where}: {message.strip() or '(empty body)'}")


class MesosUnavailable(MesosHTTPError):
    """503: the master has no leader yet or is still recovering; retry later."""


class MesosBadRequest(MesosHTTPError):
    """400: the master refused the call as malformed or invalid."""


class MesosForbidden(MesosHTTPError):
    """401/403: not authenticated, not authorized, or not subscribed."""


class MesosFrameworkError(MesosError):
    """The master ended the subscription with an ERROR event; do not re-subscribe."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"Mesos ERROR event: {message}")


class FrameworkFailedOver(MesosFrameworkError):
    """Another scheduler subscribed with our framework id (we are no longer leader)."""


class FrameworkRemoved(MesosFrameworkError):
    """The framework was torn down or its failover timeout expired."""


def http_error(status_code: int, message: str, url: str = "") -> MesosHTTPError:
    """The `MesosHTTPError` subclass that matches an HTTP status code."""
    if status_code == 503:
        return MesosUnavailable(status_code, message, url)
    if status_code == 400:
        return MesosBadRequest(status_code, message, url)
    if status_code in (401, 403):
        return MesosForbidden(status_code, message, url)
    return MesosHTTPError(status_code, message, url)


def framework_error(message: str) -> MesosFrameworkError:
    """The `MesosFrameworkError` subclass for an ERROR event's message."""
    lowered = message.lower()
    if "failed over" in lowered:
        return FrameworkFailedOver(message)
    if "removed" in lowered or "torn down" in lowered:
        return FrameworkRemoved(message)
    return MesosFrameworkError(message)
