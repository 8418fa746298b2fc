"""The worker process: leader election (and the leader's work) beside queue polling."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from hippo.shared.settings import Settings
from hippo.shared.tunables import WORKER_STOP_WAIT_S
from hippo.worker.callbacks import run_callbacks
from hippo.worker.deadletter_push import run_deadletter_push
from hippo.worker.health import serve_health
from hippo.worker.leader import run_leader_election
from hippo.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

POLLING_MODULE = "hippo.worker.polling"

Job = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


def queue_polling() -> Job | None:
    """`run_polling(settings, stop)` of the polling module, if it is installed."""
    try:
        module = importlib.import_module(POLLING_MODULE)
    except ModuleNotFoundError as e:
        if e.name != POLLING_MODULE:
            raise
        log.debug("worker: no %s module; queues are not polled by this worker", POLLING_MODULE)
        return None
    return module.run_polling  # type: ignore[no-any-return]


async def run_worker(settings: Settings, *, metrics_port: int) -> int:
    """Run until SIGTERM or SIGINT; returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = WorkerMetrics()
    serve_health(
        metrics_port, metrics.registry, settings.redis_url, mesos_error=lambda: metrics.mesos_error
    )
    jobs = [asyncio.create_task(run_leader_election(settings, stop, metrics), name="leadership")]
    jobs.append(asyncio.create_task(run_callbacks(settings, stop), name="callbacks"))
    jobs.append(asyncio.create_task(run_deadletter_push(settings, stop), name="deadletter-push"))
    polling = queue_polling()
    if polling is not None:
        jobs.append(asyncio.create_task(polling(settings, stop), name="polling"))
    code = 0
    pending = set(jobs)
    while pending:
        done, pending = await asyncio.wait(
            pending,
            return_when=asyncio.FIRST_COMPLETED,
            timeout=WORKER_STOP_WAIT_S if stop.is_set() else None,
        )
        if not done:
            log.error(
                "worker: %s did not stop within %.0f s; exiting anyway",
                [j.get_name() for j in pending],
                WORKER_STOP_WAIT_S,
            )
            return 1
        for job in done:
            if not job.cancelled() and job.exception() is not None:
                log.error("worker: %s failed", job.get_name(), exc_info=job.exception())
                code = 1
                stop.set()
        if not stop.is_set():
            log.error("worker: %s ended on its own; stopping", [j.get_name() for j in done])
            code = 1
            stop.set()
    log.info("worker: stopped")
    return code
