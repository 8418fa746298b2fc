"""Hippo's asyncio client of the Mesos v1 scheduler HTTP API.

See docs/mesos.md for which Mesos documentation each call and event follows.
"""

from hippo.shared.records import TERMINAL_STATES  # the client's terminal states are Hippo's

from .client import MesosSchedulerClient
from .errors import (
    FrameworkFailedOver,
    FrameworkRemoved,
    MesosBadRequest,
    MesosConfigError,
    MesosConnectionError,
    MesosError,
    MesosForbidden,
    MesosFrameworkError,
    MesosHTTPError,
    MesosNotSent,
    MesosNotSubscribed,
    MesosOffersGone,
    MesosUnavailable,
    RecordIOError,
)
from .events import (
    Disconnected,
    Error,
    Event,
    Failure,
    Heartbeat,
    Message,
    Offers,
    Rescind,
    Subscribed,
    TaskStatus,
    Unknown,
    Update,
)
from .messages import FrameworkSettings

__all__ = [
    "TERMINAL_STATES",
    "Disconnected",
    "Error",
    "Event",
    "Failure",
    "FrameworkFailedOver",
    "FrameworkRemoved",
    "FrameworkSettings",
    "Heartbeat",
    "Message",
    "MesosBadRequest",
    "MesosConfigError",
    "MesosConnectionError",
    "MesosError",
    "MesosForbidden",
    "MesosFrameworkError",
    "MesosHTTPError",
    "MesosNotSent",
    "MesosNotSubscribed",
    "MesosOffersGone",
    "MesosSchedulerClient",
    "MesosUnavailable",
    "Offers",
    "RecordIOError",
    "Rescind",
    "Subscribed",
    "TaskStatus",
    "Unknown",
    "Update",
]
