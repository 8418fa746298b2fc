"""Fault run: SIGKILL of a worker in the middle of a poll, for each source type, under
steady load. The victim (tests/chaos/observed_poller.py) holds its poll of the source's
queue just before storing it, and is killed there: what it took from the source must
come back (lease expiry, SQS visibility, an unmoved watermark or fire time) and become
one task each, none twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from tests.chaos.harness import RIG_ENV, Rig, assert_kept
from tests.chaos.sources import SOURCE_KINDS, Feed
from tests.conftest import wait_until
from tests.sources.conftest import task_data

VICTIM = "tests.chaos.observed_poller"
PUT_EVERY_S = 0.1


@pytest.mark.parametrize("feed", SOURCE_KINDS, indirect=True)
def test_sigkill_of_a_worker_in_the_middle_of_a_poll(
    feed: Feed, make_rig: Callable[..., Rig], run: int
) -> None:
    kind = feed.kind
    rig = make_rig(f"worker SIGKILL mid-poll: {kind}")
    rig.start_workers(1)
    rig.start_load()
    queue_id = f"{feed.queue_type}-{uuid.uuid4().hex[:6]}"
    victim = rig.cluster.start_worker(
        module=VICTIM,
        OBSERVE_REDIS_URL=rig.redis_url,
        STORE_DELAY_S="600",
        STORE_DELAY_QUEUE=queue_id,
        **RIG_ENV,
    )
    r = rig.cluster.redis
    wait_until(lambda: r.exists(f"observe:ready:{victim.pid}"), 60, "the victim to start")
    rig.create_queue(feed.queue_type, feed.settings, queue_id=queue_id, **feed.block)
    put = 0
    last_put = 0.0

    def victim_holds_a_poll() -> bool:
        # Items keep coming until the victim takes some: the other worker polls too.
        nonlocal put, last_put
        if time.monotonic() - last_put >= PUT_EVERY_S:
            data = feed.put(put)
            put, last_put = put + 1, time.monotonic()
            if data is not None:
                rig.expect(queue_id, data)
        return r.get(f"observe:in-store:{victim.pid}") == queue_id.encode()

    wait_until(victim_holds_a_poll, 60, f"the victim to hold a poll of {queue_id}")
    killed_at = time.time()
    with rig.fault():
        victim.kill()

    def taken_back() -> bool:
        stored = task_data(r, queue_id)
        if feed.queue_type == "cron":  # fire times after the victim's lease ran out were made
            return any(int(d) > killed_at + 3 for d in stored)
        with rig._lock:
            expected = {i.rsplit(":", 1)[1] for i in rig.collected.items if f":{queue_id}:" in i}
        return expected <= set(stored)

    result_of = rig.finish
    if feed.queue_type == "cron":
        wait_until(taken_back, 60, "fire times after the kill")
        assert rig.http.post(f"/queues/{queue_id}/disable/").status_code == 200
        fired = sorted(int(d) for d in task_data(r, queue_id))
        for second in range(fired[0], fired[-1] + 1):  # every second, none missed
            rig.expect(queue_id, str(second))
    assert_kept(result_of(recovered=taken_back))
