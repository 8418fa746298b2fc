"""The runs' own times in the leader's fenced scripts, straight on our Redis: a retry
waits its backoff out of the launchable runs (retry_delay_seconds), a run that gets no
offer in time fails (max_pending_seconds), a run that runs too long is killed and
counted as its command's failure (max_runtime_seconds)."""

from __future__ import annotations

import datetime
from typing import Any

from hippo.shared.records import WAITING
from tests.worker.test_fenced_scripts import KEYS, Leaders, run


def iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_retry_waits_its_backoff_out_of_the_launchable_runs(redis_url: str) -> None:
    async def scenario(t: Leaders) -> list[dict[str, Any]]:
        epoch = await t.epoch()
        mid = await t.task(
            id="slow",
            task_retries=4,
            retry_delay_seconds=10,
            retry_backoff_factor=3,
            retry_max_delay_seconds=50,
        )
        seen = []
        failed_at = 1_764_500_000.0
        for _ in range(4):
            await t.claim(epoch, mid)
            assert await t.record(epoch, mid, "TASK_FAILED", budget="task", now=failed_at) == (
                "retried"
            )
            new = (await t.status(mid))["next_mesos_id"]
            st = await t.status(new)
            due = st["retry_due_tstamp"]
            before = await t.leader.due_deadlines(epoch, due - 0.01)
            seen.append(
                {
                    "wait": due - failed_at,
                    "attempt": st["attempt"],
                    "previous": st["previous_mesos_id"] == mid,
                    "state": st["mesos_state"],
                    "reason": st["pending_reason"],
                    "expected_reason": f"retry due at {iso(due)}",
                    "counted": await t.leader.waiting_count(),
                    "launchable": (await t.leader.launchable(100, 100)).runs,
                    "released_early": before.released,
                    "next_in_s": before.next_in_s,
                }
            )
            released = await t.leader.due_deadlines(epoch, due)
            after = await t.status(new)
            seen[-1].update(
                released=released.released,
                counted_after=await t.leader.waiting_count(),
                launchable_after=[r.mesos_id for r in (await t.leader.launchable(100, 100)).runs],
                reason_after=after["pending_reason"],
                new=new,
            )
            mid, failed_at = new, due + 5
        return seen

    seen = run(redis_url, scenario)
    assert [s["wait"] for s in seen] == [10, 30, 50, 50]  # x3 each time, at most 50
    assert [s["attempt"] for s in seen] == [2, 3, 4, 5]
    for s in seen:
        assert s["previous"] and s["state"] == WAITING
        assert s["reason"] == s["expected_reason"]
        # Before it is due: waiting, yet neither counted (no REVIVE, SUPPRESS allowed)
        # nor launchable, and the leader knows when to look again.
        assert (s["counted"], s["launchable"], s["released_early"]) == (0, [], 0)
        assert 0 < s["next_in_s"] <= 0.011
        # Once due: an ordinary waiting run.
        assert (s["released"], s["counted_after"]) == (1, 1)
        assert s["launchable_after"] == [s["new"]] and s["reason_after"] is None


def test_without_a_delay_a_retry_launches_at_once_as_before(redis_url: str) -> None:
    async def scenario(t: Leaders) -> tuple[dict[str, Any], int]:
        epoch = await t.epoch()
        mid = await t.task(id="quick", task_retries=1)
        await t.claim(epoch, mid)
        await t.record(epoch, mid, "TASK_FAILED", budget="task")
        new = (await t.status(mid))["next_mesos_id"]
        return await t.status(new), await t.leader.waiting_count()

    st, counted = run(redis_url, scenario)
    assert st["retry_due_tstamp"] is None and st["pending_reason"] is None
    assert counted == 1


def test_a_run_that_gets_no_offer_within_max_pending_seconds_fails(redis_url: str) -> None:
    async def scenario(t: Leaders) -> dict[str, Any]:
        epoch = await t.epoch()
        # Created at 1.0 (Leaders.task): due to have an offer by 6.0.
        never = await t.task(id="never", max_pending_seconds=5, task_retries=3)
        offered = await t.task(id="offered", max_pending_seconds=5)
        await t.claim(epoch, offered)
        early = await t.leader.due_deadlines(epoch, 5.99)
        due = await t.leader.due_deadlines(epoch, 6.0)
        return {
            "early": early.failed,
            "failed": due.failed,
            "never": await t.status(never),
            "offered": (await t.status(offered))["mesos_state"],
            "runs": await t.client.zcard(KEYS.tasks_by_id("never")),
        }

    found = run(redis_url, scenario)
    assert (found["early"], found["failed"]) == (0, 1)
    never = found["never"]
    assert never["mesos_state"] == "TASK_FAILED" and never["timed_out"] == "max_pending_seconds"
    assert never["status_reason"] == "HIPPO_MAX_PENDING_EXCEEDED"
    assert never["status_message"] == "no offer was taken for it within max_pending_seconds (5 s)"
    assert found["runs"] == 1  # not retried: it would wait the same way again
    assert found["offered"] == "TASK_STAGING"  # an offer was taken in time


def test_a_run_past_max_runtime_seconds_is_killed_and_spends_a_task_retry(
    redis_url: str,
) -> None:
    async def scenario(t: Leaders) -> dict[str, Any]:
        epoch = await t.epoch()
        mid = await t.task(id="long", max_runtime_seconds=30, task_retries=1)
        await t.claim(epoch, mid)
        await t.record(epoch, mid, "TASK_RUNNING", now=10.0)  # runs until 40.0 at most
        early = await t.leader.due_deadlines(epoch, 39.9)
        due = await t.leader.due_deadlines(epoch, 40.0)
        marked = await t.status(mid)
        kills = await t.client.smembers(KEYS.kills)
        # TASK_KILLED: retry_budget gives none (a kill is never retried), the script
        # knows the kill was max_runtime_seconds'.
        outcome = await t.record(epoch, mid, "TASK_KILLED", now=41.0)
        ended = await t.status(mid)
        return {
            "early": early.killed,
            "killed": due.killed,
            "marked": marked,
            "kills": kills,
            "outcome": outcome,
            "ended": ended,
            "next": await t.status(ended["next_mesos_id"]),
        }

    found = run(redis_url, scenario)
    assert (found["early"], found["killed"]) == (0, 1)
    assert found["marked"]["mesos_state"] == "TASK_RUNNING"  # until Mesos says it ended
    assert found["marked"]["timed_out"] == "max_runtime_seconds"
    assert found["kills"] == {found["marked"]["mesos_id"].encode()}
    ended = found["ended"]
    assert found["outcome"] == "retried"
    assert ended["mesos_state"] == "TASK_KILLED"
    assert ended["status_reason"] == "HIPPO_MAX_RUNTIME_EXCEEDED"
    assert ended["status_message"] == "killed: ran longer than max_runtime_seconds (30 s)"
    assert found["next"]["task_retries_left"] == 0 and found["next"]["attempt"] == 2
