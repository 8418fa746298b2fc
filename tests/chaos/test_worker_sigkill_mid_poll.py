"""Fault run: SIGKILL of a worker in the middle of a poll, for each source type at once,
under steady load. The victim (tests/chaos/observed_poller.py) holds its polls of one
queue of each type (redis, sqs, s3bucket, sqlquery on PostgreSQL and on MariaDB, cron)
just before storing them, and is killed while it holds them all: what it took must come
back (lease expiry, SQS visibility, an unmoved watermark or fire time) and become one
task each, none twice. A loss is listed by item, whose key names the queue (its id
starts with the source type)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from tests.chaos.harness import RIG_ENV, Rig, assert_kept
from tests.chaos.sources import Feed
from tests.conftest import wait_until
from tests.sources.conftest import task_data

VICTIM = "tests.chaos.observed_poller"
PUT_EVERY_S = 0.1
LEASE_S = float(RIG_ENV["HIPPO_QUEUE_LEASE_S"])


def test_sigkill_of_a_worker_in_the_middle_of_a_poll_of_each_source_type(
    feeds: list[Feed], make_rig: Callable[..., Rig], run: int
) -> None:
    rig = make_rig("worker SIGKILL mid-poll, every source type", workers=1)
    rig.leader()
    queues = {f"{feed.queue_type}-{uuid.uuid4().hex[:6]}": feed for feed in feeds}
    victim = rig.cluster.start_worker(
        module=VICTIM,
        OBSERVE_REDIS_URL=rig.redis_url,
        STORE_DELAY_S="600",
        STORE_DELAY_QUEUE=",".join(queues),
        **RIG_ENV,
    )
    rig.start_load()
    r = rig.cluster.redis
    wait_until(lambda: r.exists(f"observe:ready:{victim.pid}"), 60, "the victim to start")
    for queue_id, feed in queues.items():
        rig.create_queue(feed.queue_type, feed.settings, queue_id=queue_id, **feed.block)
    put = 0
    last_put = 0.0

    def victim_holds_a_poll_of_each() -> bool:
        # Items keep coming until the victim holds some of each: the other worker polls too.
        nonlocal put, last_put
        if time.monotonic() - last_put >= PUT_EVERY_S:
            for queue_id, feed in queues.items():
                data = feed.put(put)
                if data is not None:
                    rig.expect(queue_id, data)
            put, last_put = put + 1, time.monotonic()
        return r.scard(f"observe:held:{victim.pid}") == len(queues)

    wait_until(victim_holds_a_poll_of_each, 60, "the victim to hold a poll of each queue")
    killed_at = time.time()
    with rig.fault():
        victim.kill()
    cron_queue = next(q for q, feed in queues.items() if feed.queue_type == "cron")

    def taken_back() -> bool:
        """Every item put in is a task, and cron fired past the victim's lease."""
        with rig._lock:
            expected = set(rig.collected.items)
        for queue_id in queues:
            stored = set(task_data(r, queue_id))
            if queue_id == cron_queue:
                if not any(int(d) > killed_at + LEASE_S + 1 for d in stored):
                    return False
            elif not {i.rsplit(":", 1)[1] for i in expected if f":{queue_id}:" in i} <= stored:
                return False
        return True

    wait_until(taken_back, 60, "what the victim took to come back")
    assert rig.http.post(f"/queues/{cron_queue}/disable/").status_code == 200
    fired = sorted(int(d) for d in task_data(r, cron_queue))
    for second in range(fired[0], fired[-1] + 1):  # every second once, none missed
        rig.expect(cron_queue, str(second))
    assert_kept(rig.finish(recovered=taken_back))
