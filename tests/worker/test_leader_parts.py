"""The leader's decisions, part by part, as pure functions over plain data: no Redis, no
Mesos. (The parts' wiring is tested end to end in test_worker.py and test_guarantees.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from hippo.shared.settings import Settings
from hippo.shared.store.leadership import ActiveTask, UpdateOutcome
from hippo.shared.tunables import UPDATE_BATCH
from hippo.worker.cadence import Cadence
from hippo.worker.candidates import parse_waiting
from hippo.worker.kills import KillBook, KillSender
from hippo.worker.matching import OfferView, Place
from hippo.worker.mesos import (
    MesosBadRequest,
    MesosConnectionError,
    MesosNotSent,
    TaskStatus,
)
from hippo.worker.metrics import WorkerMetrics
from hippo.worker.offer_book import OfferBook
from hippo.worker.offer_round import OfferRound, claims_of, launches_by_offer
from hippo.worker.reconciliation import chunks, stuck_staging
from hippo.worker.round_inputs import QueueCaps, with_queue_caps
from hippo.worker.status_updates import UpdateRecorder, consequences, to_store


def raw_offer(n: int, cpus: float = 4, mem: float = 4096, rack: str = "r1") -> dict[str, Any]:
    return {
        "id": {"value": f"O{n}"},
        "agent_id": {"value": f"S{n}"},
        "hostname": f"host{n}",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": rack}}],
        "allocation_info": {"role": "*"},
    }


def status(mesos_id: str, state: str, reason: str | None = None) -> TaskStatus:
    return TaskStatus({}, mesos_id, state, "S1", "dXVpZA==", None, reason, None)


def waiting(mesos_id: str, queue_id: str | None = None, **spec: Any) -> Any:
    definition = {"container": {"docker": {"image": "alpine"}}, "cpus": 1, "mem": 64}
    definition |= {"cmd": "true", **spec}
    task_id = queue_id or mesos_id.split(".")[0]
    return parse_waiting(
        mesos_id, json.dumps(definition), json.dumps({"id": task_id, "queue_id": queue_id})
    )


# --- the offer book ----------------------------------------------------------------------


def test_offers_are_held_until_used_rescinded_or_expired() -> None:
    book = OfferBook(hold_s=2)
    assert book.receive([raw_offer(1), raw_offer(2)], now=10.0) == 2
    book.receive([raw_offer(3)], now=11.0)
    book.take("O1")
    book.rescind("O2")
    assert [o.id for o in book.offers()] == ["O3"]
    assert book.expire(now=12.9) == [] and book.expire(now=13.0) == ["O3"]
    assert book.offers() == []


def test_a_round_wakes_when_the_oldest_offer_expires() -> None:
    book = OfferBook(hold_s=2)
    assert book.wait_s(now=0.0) is None  # nothing held: wait for an event
    book.receive([raw_offer(1)], now=10.0)
    book.receive([raw_offer(2)], now=11.0)
    assert book.wait_s(now=10.5) == pytest.approx(1.5 + 0.01)
    assert book.wait_s(now=20.0) == pytest.approx(0.01)


def test_agents_are_placed_by_their_last_offer_even_after_it_is_gone() -> None:
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(1, rack="r7")], now=0.0)
    book.forget_offers()
    assert book.place_of("S1", "host1") == Place("host1", {"rack": "r7"})
    assert book.place_of("S9", "host9") == Place("host9")


def test_suppress_only_with_nothing_held_and_not_already_suppressed() -> None:
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(1)], now=0.0)
    assert not book.may_suppress()
    book.take("O1")
    assert book.may_suppress()
    book.suppressed = True
    assert not book.may_suppress()
    book.subscribed()  # a new subscription starts unsuppressed
    assert book.may_suppress()


def test_revive_at_most_once_per_interval() -> None:
    book = OfferBook(hold_s=2, revive_min_interval_s=0.5)
    assert book.revive_wait_s(now=100.0) == 0
    book.revive_sent(now=100.0)
    assert book.revive_wait_s(now=100.2) == pytest.approx(0.3)
    assert book.revive_wait_s(now=100.5) == 0


# --- the offer round -------------------------------------------------------------------


def test_claims_carry_both_caps_and_where_the_run_goes() -> None:
    offer = OfferView("O1", "S1", "host1", {}, 4, 4096, role="*")
    one_off, from_queue = waiting("a.1", max_concurrent=3), waiting("q.1", queue_id="q")
    from_queue = with_queue_caps([from_queue], {"q": 7})[0]
    claims = claims_of([(one_off, offer), (from_queue, offer)])
    assert [(c.mesos_id, c.agent_id, c.hostname) for c in claims] == [
        ("a.1", "S1", "host1"),
        ("q.1", "S1", "host1"),
    ]
    assert [(c.id_cap, c.queue_cap) for c in claims] == [(3, None), (None, 7)]


def test_only_claimed_runs_are_launched_one_accept_per_offer() -> None:
    o1 = OfferView("O1", "S1", "host1", {}, 4, 4096, role="*")
    o2 = OfferView("O2", "S2", "host2", {}, 4, 4096, role="*")
    assigned = [(waiting("a.1"), o1), (waiting("b.1"), o1), (waiting("c.1"), o2)]
    per_offer = launches_by_offer(assigned, claimed={"a.1", "c.1"})
    assert {o: [i["task_id"]["value"] for i in infos] for o, infos in per_offer.items()} == {
        "O1": ["a.1"],
        "O2": ["c.1"],
    }
    assert per_offer["O2"][0]["agent_id"] == {"value": "S2"}


class LaunchJournal:
    """A store and an ACCEPT stand-in noting claims, unclaims and ACCEPTs in order;
    `during_claim` runs inside the claim's await (events arriving meanwhile)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.during_claim: Any = None
        self.claim_runs = 1  # every offer its own claim, unless a test says otherwise

    async def claim(self, epoch: int, now: float, claims: Any) -> list[str]:
        self.calls.append("claim " + " ".join(c.mesos_id for c in claims))
        if self.during_claim is not None:
            self.during_claim()
        return [c.mesos_id for c in claims if c.mesos_id != "b.1"]  # b.1: killed meanwhile

    async def unclaim(self, epoch: int, now: float, mesos_ids: Any) -> int:
        self.calls.append("unclaim " + " ".join(mesos_ids))
        return len(mesos_ids)

    def round(self, book: OfferBook) -> Any:
        from hippo.shared.settings import Settings
        from hippo.worker.offer_round import OfferRound

        calls = self.calls

        class Round(OfferRound):
            async def _accept(self, client: Any, offer_id: str, infos: Any, stream: Any) -> None:
                ids = " ".join(i["task_id"]["value"] for i in infos)
                calls.append(f"accept {offer_id} on {stream}: {ids}")

        def spawn(job: Any) -> None:  # runs the (await-free) ACCEPT stand-in at once
            with contextlib.suppress(StopIteration):
                job.send(None)

        offer_round = Round(Settings.from_env({}), self, 1, WorkerMetrics(), book, spawn)
        offer_round.claim_runs = self.claim_runs
        return offer_round


def offers_held(*numbers: int) -> tuple[OfferBook, list[OfferView]]:
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(n) for n in numbers], now=10.0, stream_id="stream-1")
    return book, [book.held[f"O{n}"].view for n in numbers]


def test_a_round_claims_and_accepts_offer_by_offer() -> None:
    """Each offer's ACCEPT goes out once its own runs are claimed, before the next
    offer's are: Mesos starts on the first offer's tasks while the rest are claimed.
    A run the store did not claim (killed meanwhile) is not launched."""
    journal = LaunchJournal()
    book, (o1, o2, o3) = offers_held(1, 2, 3)
    assigned = [(waiting("a.1"), o1), (waiting("c.1"), o2), (waiting("d.1"), o1)]
    assigned += [(waiting("b.1"), o3)]
    offer_round = journal.round(book)
    assert asyncio.run(offer_round.launch(object(), assigned)) == 3
    assert journal.calls == [
        "claim a.1 d.1",
        "accept O1 on stream-1: a.1 d.1",
        "claim c.1",
        "accept O2 on stream-1: c.1",
        "claim b.1",
    ]
    assert set(book.held) == {"O3"}  # nothing went out on it: still ours to use


def test_small_offers_share_a_claim_and_large_ones_are_claimed_alone() -> None:
    from hippo.worker.offer_round import by_offer, claim_groups

    o1, o2, o3, o4 = (OfferView(f"O{n}", f"S{n}", f"h{n}", {}, 4, 4096) for n in range(1, 5))
    assigned = [(waiting(f"r{n}.1"), o) for n, o in enumerate([o1, o1, o1, o2, o3, o4])]
    groups = claim_groups(by_offer(assigned), min_runs=3)
    assert [[offer_id for offer_id, _ in group] for group in groups] == [
        ["O1"],
        ["O2", "O3", "O4"],
    ]
    assert claim_groups({}, min_runs=3) == []


def test_a_round_over_many_small_offers_claims_them_in_one_script() -> None:
    journal = LaunchJournal()
    journal.claim_runs = 500
    book, (o1, o2, o3) = offers_held(1, 2, 3)
    assigned = [(waiting("a.1"), o1), (waiting("c.1"), o2), (waiting("d.1"), o3)]
    assert asyncio.run(journal.round(book).launch(object(), assigned)) == 3
    assert journal.calls == [
        "claim a.1 c.1 d.1",
        "accept O1 on stream-1: a.1",
        "accept O2 on stream-1: c.1",
        "accept O3 on stream-1: d.1",
    ]


def test_an_offer_gone_during_a_round_gets_no_accept_and_its_runs_wait_again() -> None:
    """The subscription ends (the book forgets its offers) while the first offer's runs
    are claimed: that offer's runs are unclaimed, not sent on a void offer (Mesos would
    drop them and each would spend a retry), and the next offer's are not claimed."""
    journal = LaunchJournal()
    book, (o1, o2) = offers_held(1, 2)
    journal.during_claim = book.forget_offers
    offer_round = journal.round(book)
    assigned = [(waiting("a.1"), o1), (waiting("c.1"), o2)]
    assert asyncio.run(offer_round.launch(object(), assigned)) == 0
    assert journal.calls == ["claim a.1", "unclaim a.1"]
    assert offer_round.trigger.waiting_hint


@pytest.mark.parametrize(
    "error, unclaimed",
    [
        (MesosNotSent("ACCEPT: cannot connect"), True),  # never left: nothing launched
        (MesosBadRequest(400, "ACCEPT: offer unknown"), True),  # answered: none launched
        (MesosConnectionError("ACCEPT: no answer"), False),  # may have launched
    ],
)
def test_an_accept_that_launched_nothing_puts_its_runs_back_and_one_unanswered_not(
    error: Exception, unclaimed: bool
) -> None:
    journal = LaunchJournal()
    book, _ = offers_held(1)
    offer_round = OfferRound(Settings.from_env({}), journal, 1, WorkerMetrics(), book, print)

    class Client:
        stream_id = "stream-1"

        async def launch(self, *args: Any, **kwargs: Any) -> None:
            raise error

    book.take("O1")
    offer_round.trigger.waiting_hint = False
    info = {"task_id": {"value": "a.1"}}
    asyncio.run(offer_round._accept(Client(), "O1", [info], "stream-1"))  # type: ignore[arg-type]
    assert journal.calls == (["unclaim a.1"] if unclaimed else [])
    assert book.undeclined == (["O1"] if unclaimed else [])  # outstanding: declined next
    assert offer_round.trigger.waiting_hint == unclaimed  # a round places them again


class ReadJournal:
    """A store whose LAUNCHABLE answers steps of two runs each (one-off tasks of `cpus`),
    noting when each read starts and answers, and when each step's runs are decoded
    ("match") and assigned."""

    def __init__(self, steps: int) -> None:
        self.calls: list[str] = []
        self.steps = steps
        self.turns = 3  # turns of the loop a read takes (its round trip)
        self.failing: set[int] = set()  # reads from these ranks fail
        self.fail_match = False  # decoding a step fails (a round that fails midway)
        self.cpus = 1  # each run's

    def mids(self, step: int) -> list[str]:
        return [f"{chr(ord('a') + 2 * step + n)}.1" for n in range(2)]

    async def launchable(self, limit: int, max_ids: int, start: int = 0) -> Any:
        from hippo.shared.store.leadership import Launchable, WaitingRun

        self.calls.append(f"read from {start}")
        for _ in range(self.turns):  # the round trip: the caller goes on meanwhile
            await asyncio.sleep(0)
        if start in self.failing:
            raise RedisConnectionError("gone")
        self.calls.append(f"answered from {start}")
        step = start // 2
        definition = json.dumps(
            {"container": {"docker": {"image": "alpine"}}, "cpus": self.cpus, "mem": 64}
            | {"cmd": "true"}
        )
        runs = [
            WaitingRun(mid, 0, definition.encode(), json.dumps({"id": mid[0]}).encode())
            for mid in self.mids(step)
        ]
        next_start = start + 2 if step + 1 < self.steps else None
        return Launchable(runs, next_start, [], {mid[0]: 0 for mid in self.mids(step)})

    def round(self, book: OfferBook, **env: str) -> Any:
        from hippo.shared.settings import Settings
        from hippo.worker.offer_round import OfferRound

        offer_round = OfferRound(Settings.from_env(env), self, 1, WorkerMetrics(), book, print)
        read = offer_round.inputs.waiting

        async def waiting(runs: Any) -> Any:
            self.calls.append("match " + " ".join(r.mesos_id for r in runs))
            if self.fail_match:
                raise RuntimeError("decoding failed")
            return await read(runs)

        offer_round.inputs.waiting = waiting  # type: ignore[method-assign]
        prepare = offer_round.inputs.prepare

        async def prepared(waiting: Any, state: Any) -> Any:
            self.calls.append("assign")  # what it prepares is assigned next
            return await prepare(waiting, state)

        offer_round.inputs.prepare = prepared  # type: ignore[method-assign]
        return offer_round


async def _match_alone(offer_round: Any) -> tuple[list[str], set[asyncio.Task[Any]]]:
    assigned, *_ = await offer_round._match()
    return [w.mesos_id for w, _ in assigned], asyncio.all_tasks() - {asyncio.current_task()}


def test_a_round_reads_the_next_runs_while_it_matches_the_last() -> None:
    """The next step's LAUNCHABLE starts before this step's runs are assigned, and from
    the second step on before they are decoded: Redis reads while the leader decodes
    and matches (a burst's first ACCEPT waited for every step in turn)."""
    journal = ReadJournal(steps=3)
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(1, cpus=16)], now=10.0)
    launched, left = asyncio.run(_match_alone(journal.round(book)))
    assert launched == ["a.1", "b.1", "c.1", "d.1", "e.1", "f.1"]
    assert [c for c in journal.calls if not c.startswith("answered")] == [
        "read from 0",
        "match a.1 b.1",  # a first round knows its runs' size once it decoded some
        "read from 2",
        "assign",
        "read from 4",
        "match c.1 d.1",
        "assign",
        "match e.1 f.1",
        "assign",
    ]
    assert not left


def test_a_read_ahead_is_made_only_while_the_offers_likely_want_it() -> None:
    """A round reads the next step ahead only when this step's runs, at the size of the
    runs decoded so far, leave the offers room: offers the first step fills get no read
    ahead. A later round goes by the last round's size from its first step on; a round
    whose first step reaches HIPPO_ROUND_MAX_TASKS reads nothing ahead."""
    journal = ReadJournal(steps=3)
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(1, cpus=2)], now=10.0)
    offer_round = journal.round(book)
    launched, _ = asyncio.run(_match_alone(offer_round))
    assert launched == ["a.1", "b.1"]
    assert journal.calls == ["read from 0", "answered from 0", "match a.1 b.1", "assign"]

    book.receive([raw_offer(2, cpus=16)], now=10.0)
    journal.calls.clear()
    asyncio.run(_match_alone(offer_round))
    assert journal.calls[:3] == ["read from 0", "answered from 0", "read from 2"]

    journal = ReadJournal(steps=3)
    launched, _ = asyncio.run(_match_alone(journal.round(book, HIPPO_ROUND_MAX_TASKS="2")))
    assert launched == ["a.1", "b.1"]
    assert journal.calls == ["read from 0", "answered from 0", "match a.1 b.1", "assign"]


def test_an_unneeded_read_ahead_is_dropped_even_failing_and_a_failed_round_cancels_it() -> None:
    """The runs turn out bigger than the last round's: the offers are used up by the
    first step, and the read ahead made for the second is dropped, its failure (Redis
    went away) only logged; the round returns what it matched and leaves no call
    running. A round that fails while its read ahead is in flight cancels it: the read
    never completes."""
    journal = ReadJournal(steps=3)
    book = OfferBook(hold_s=2)
    book.receive([raw_offer(1, cpus=3)], now=10.0)
    offer_round = journal.round(book)
    asyncio.run(_match_alone(offer_round))  # runs of 1 cpu: the size it goes by next
    journal.calls.clear()
    journal.cpus, journal.failing = 3, {2}
    offer_round.inputs.forget("a.1")  # decoded again, at 3 cpus
    offer_round.inputs.forget("b.1")
    launched, left = asyncio.run(_match_alone(offer_round))
    assert launched == ["a.1"] and not left
    assert journal.calls == [
        "read from 0",
        "answered from 0",
        "read from 2",
        "match a.1 b.1",
        "assign",
    ]

    journal = ReadJournal(steps=3)
    book.receive([raw_offer(2, cpus=16)], now=10.0)
    offer_round = journal.round(book)
    asyncio.run(_match_alone(offer_round))
    journal.calls.clear()
    journal.turns, journal.fail_match = 10, True

    async def failing_round() -> list[str]:
        with pytest.raises(RuntimeError, match="decoding failed"):
            await offer_round._match()
        for _ in range(2 * journal.turns):  # long enough for the read to have answered
            await asyncio.sleep(0)
        return journal.calls

    assert asyncio.run(failing_round()) == [
        "read from 0",
        "answered from 0",
        "read from 2",
        "match a.1 b.1",
    ]


def test_read_ahead_needs_a_next_step_within_the_limits_and_room_for_this_one() -> None:
    from hippo.shared.store.leadership import Launchable
    from hippo.shared.tunables import ROUND_MAX_IDS
    from hippo.worker.round_reads import read_ahead

    def found(runs: int, next_start: int | None) -> Launchable:
        return Launchable([None] * runs, next_start, [], {})  # type: ignore[list-item]

    room, small = (10.0, 1000.0), (2.0, 100.0)
    assert read_ahead(found(4, 4), 0, 100, room, small)  # 8 cpus, 400 mem: room left
    assert not read_ahead(found(4, 4), 0, 100, room, (3.0, 100.0))  # 12 cpus: full
    assert not read_ahead(found(4, 4), 0, 100, room, (1.0, 300.0))  # 1,200 mem: full
    assert not read_ahead(found(4, None), 0, 100, room, small)  # the last step
    assert not read_ahead(found(4, ROUND_MAX_IDS), 0, 100, room, small)  # ids looked at
    assert not read_ahead(found(4, 4), 96, 100, room, small)  # HIPPO_ROUND_MAX_TASKS


def test_runs_on_one_offer_share_its_reserved_pieces_then_the_unreserved() -> None:
    offer = raw_offer(1)
    hippo = {"role": "hippo", "allocation_info": {"role": "hippo"}}
    unreserved = {"role": "*", "allocation_info": {"role": "hippo"}}
    offer["allocation_info"] = {"role": "hippo"}
    offer["resources"] = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, **hippo},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 100}, **hippo},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, **unreserved},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1000}, **unreserved},
    ]
    view = OfferView.from_json(offer)
    assert (view.cpus, view.mem, view.role) == (3.5, 1100, "hippo")
    per_offer = launches_by_offer([(waiting("a.1"), view), (waiting("b.1"), view)], {"a.1", "b.1"})
    shares = [
        [(r["name"], r["role"], r["scalar"]["value"]) for r in info["resources"]]
        for info in per_offer["O1"]
    ]
    assert shares == [
        [("cpus", "hippo", 1), ("mem", "hippo", 64)],
        [("cpus", "hippo", 0.5), ("cpus", "*", 0.5), ("mem", "hippo", 36), ("mem", "*", 28)],
    ]
    assert all(
        r["allocation_info"] == {"role": "hippo"}
        for info in per_offer["O1"]
        for r in info["resources"]
    )


def test_queue_caps_are_read_again_once_stale() -> None:
    caps = QueueCaps(ttl_s=5)
    assert caps.stale({"q", "r"}, now=0.0) == {"q", "r"}
    caps.update({"q": 3, "r": 4}, now=0.0)
    assert caps.stale({"q", "r"}, now=5.0) == set() and caps.stale({"q"}, now=5.1) == {"q"}
    assert caps.of({"q"}) == {"q": 3}


def test_runs_get_their_queues_current_cap_and_others_stay_as_they_are() -> None:
    one_off, from_queue = waiting("a.1"), waiting("q.1", queue_id="q")
    ready = with_queue_caps([one_off, from_queue], {"q": 2})
    assert ready[0] is one_off
    assert ready[1].candidate.queue_max_concurrent == 2
    assert with_queue_caps(ready, {"q": 2})[1] is ready[1]  # unchanged: not copied again


def test_a_queue_run_is_decoded_with_its_queues_cap_as_last_read() -> None:
    spec = {"container": {"docker": {"image": "alpine"}}, "cpus": 1, "mem": 64, "cmd": "true"}
    definition = json.dumps(spec)
    status = json.dumps({"id": "q", "queue_id": "q"})
    run = parse_waiting("q.1", definition, status, queue_caps={"q": 4, "r": 9})
    assert run.candidate.queue_max_concurrent == 4
    assert run.candidate.max_concurrent is None  # its definition spells none
    assert with_queue_caps([run], {"q": 4})[0] is run  # the same cap: not copied
    moved = with_queue_caps([run], {"q": 5})[0]  # the queue's cap changed since
    assert moved.candidate.queue_max_concurrent == 5
    one_off = parse_waiting("a.1", definition, json.dumps({"id": "a"}), queue_caps={"q": 4})
    assert one_off.candidate.queue_max_concurrent is None
    caps = QueueCaps(ttl_s=5)
    caps.update({"q": 3}, now=0.0)
    assert caps.known() == {"q": 3} and caps.stale({"q"}, now=6.0) == {"q"}


# --- status updates ----------------------------------------------------------------------


def test_each_update_names_its_retry_budget_and_a_fresh_next_run() -> None:
    found = to_store([status("a.1", "TASK_FAILED"), status("b.1", "TASK_LOST")])
    assert [(u.mesos_id, u.retry_budget) for u in found] == [("a.1", "task"), ("b.1", "system")]
    assert found[0].fresh_uuid != found[1].fresh_uuid


def test_what_follows_the_stores_answer() -> None:
    statuses = [
        status("a.1", "TASK_RUNNING"),
        status("b.1", "TASK_FAILED"),
        status("c.1", "TASK_RUNNING"),
        status("d.1", "TASK_FINISHED"),
        status("e.1", "TASK_RUNNING"),
    ]
    outcomes = [
        UpdateOutcome("stored", "90.0"),  # first RUNNING: created at 90
        UpdateOutcome("retried", "b.2"),
        UpdateOutcome("stale", ""),  # ended in Hippo, running in Mesos
        UpdateOutcome("missing", ""),  # a terminal update of an unknown task: nothing
        UpdateOutcome("same", ""),
    ]
    found = consequences(statuses, outcomes, now=100.0)
    assert [s.task_id for s in found.stored] == ["a.1", "b.1"]
    assert found.launch_latencies_s == [10.0]
    assert [(s.task_id, nxt) for s, nxt in found.retried] == [("b.1", "b.2")]
    assert found.ended == ["b.1"] and found.freed
    assert [(s.task_id, why) for s, why in found.to_kill] == [("c.1", "stale")]


def test_nothing_is_freed_by_updates_of_live_runs() -> None:
    found = consequences([status("a.1", "TASK_STARTING")], [UpdateOutcome("stored", "")], 1.0)
    assert not found.freed and found.launch_latencies_s == []


# --- kills -------------------------------------------------------------------------------


def active(mesos_id: str, updated: float = 0.0) -> ActiveTask:
    return ActiveTask(mesos_id, "TASK_STAGING", "S1", updated, False)


def test_a_kill_is_resent_after_the_interval_until_forgotten() -> None:
    book = KillBook(resend_s=5)
    runs = [active("a.1"), active("b.1")]
    assert book.due(runs, now=0.0) == runs
    book.sent("a.1", now=0.0)
    assert book.due(runs, now=4.9) == [runs[1]]
    assert book.due(runs, now=5.0) == runs
    book.sent("a.1", now=5.0)
    book.forget("a.1")  # it ended
    assert book.due(runs, now=5.1) == runs


# --- reconciliation and chores -----------------------------------------------------------


def test_tasks_staging_past_the_deadline_are_reconciled_once_per_timeout() -> None:
    staging = [active("old.1", updated=100.0), active("new.1", updated=150.0)]
    args = {"now": 200.0, "monotonic_now": 1000.0, "staging_timeout_s": 60}
    assert stuck_staging(staging, reconciled={}, **args) == [("old.1", "S1")]
    assert stuck_staging(staging, reconciled={"old.1": 950.0}, **args) == []
    assert stuck_staging(staging, reconciled={"old.1": 930.0}, **args) == [("old.1", "S1")]


def test_reconciliation_goes_in_chunks() -> None:
    pairs = [(f"t{n}", None) for n in range(5)]
    assert [len(c) for c in chunks(pairs, 2)] == [2, 2, 1]


@pytest.mark.parametrize(
    "at_once, checks, due",
    [
        (True, [0.0, 0.5, 1.0, 1.9, 2.0], [True, False, False, False, True]),
        (False, [0.0, 1.0, 2.0, 3.0, 4.0], [False, False, True, False, True]),
    ],
)
def test_a_cadence_is_due_once_per_interval(
    at_once: bool, checks: list[float], due: list[bool]
) -> None:
    cadence = Cadence(2.0, start=0.0, at_once=at_once)
    assert [cadence.due(now) for now in checks] == due


# --- stored, then acknowledged -----------------------------------------------------------


class Journal:
    """A store and a client that note, in order, what the recorder asked of them."""

    def __init__(self, store_fails: bool) -> None:
        self.store_fails = store_fails
        self.calls: list[str] = []

    async def record_updates(self, epoch: int, now: float, updates: Any) -> Any:
        await asyncio.sleep(0)  # a round trip: anything started before it runs meanwhile
        self.calls.append("store")
        if self.store_fails:
            raise RedisConnectionError("injected")
        return [UpdateOutcome("stored", "") for _ in updates]

    async def acknowledge_updates(self, statuses: Any) -> int:
        self.calls.append("ack")
        return len(statuses)


def recorder_of(journal: Journal) -> UpdateRecorder:
    """An UpdateRecorder storing to and acknowledging through `journal`."""
    return UpdateRecorder(
        journal,  # type: ignore[arg-type]
        1,
        WorkerMetrics(),
        KillSender(journal, WorkerMetrics(), lambda coro: coro.close()),  # type: ignore[arg-type]
        lambda: None,
    )


@pytest.mark.parametrize("store_fails, calls", [(False, ["store", "ack"]), (True, ["store"])])
def test_updates_are_acknowledged_only_once_stored(store_fails: bool, calls: list[str]) -> None:
    journal = Journal(store_fails)
    recorder = recorder_of(journal)

    async def record() -> None:
        serving = asyncio.create_task(recorder.serve(journal))  # type: ignore[arg-type]
        recorder.put(status("a.1", "TASK_RUNNING"))
        while journal.calls != calls and not serving.done():
            await asyncio.sleep(0)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving  # a store failure ends serve() with it (the term ends)

    if store_fails:
        with pytest.raises(RedisConnectionError):
            asyncio.run(asyncio.wait_for(record(), 10))
    else:
        asyncio.run(asyncio.wait_for(record(), 10))
    assert journal.calls == calls


class SlowAcks(Journal):
    """Acknowledgements that wait to be answered until the test says so."""

    def __init__(self) -> None:
        super().__init__(store_fails=False)
        self.answer = asyncio.Event()

    async def record_updates(self, epoch: int, now: float, updates: Any) -> Any:
        self.calls.append("store " + ",".join(u.mesos_id for u in updates))
        return [UpdateOutcome("stored", "") for _ in updates]

    async def acknowledge_updates(self, statuses: Any) -> int:
        names = ",".join(s.task_id for s in statuses)
        self.calls.append(f"ack {names}")
        await self.answer.wait()
        self.calls.append(f"acked {names}")
        return len(statuses)


async def first_ack_out(recorder: UpdateRecorder, journal: SlowAcks) -> asyncio.Task[None]:
    """serve() running, with a.1 stored and its acknowledgement waiting for an answer."""
    serving = asyncio.create_task(recorder.serve(journal))  # type: ignore[arg-type]
    recorder.put(status("a.1", "TASK_RUNNING"))
    while journal.calls != ["store a.1", "ack a.1"]:
        await asyncio.sleep(0)
    return serving


def test_a_batch_is_stored_while_the_one_before_is_acknowledged_in_order() -> None:
    """The second batch is stored while the first one's acknowledgements are in flight;
    its own go out only once the first's are answered, and never before it is stored."""
    journal = SlowAcks()
    recorder = recorder_of(journal)

    async def run() -> None:
        serving = await first_ack_out(recorder, journal)
        recorder.put(status("b.1", "TASK_RUNNING"))
        while len(journal.calls) < 3:
            await asyncio.sleep(0)
        for _ in range(100):  # the second ack must not start while the first is out
            await asyncio.sleep(0)
        assert journal.calls == ["store a.1", "ack a.1", "store b.1"]
        journal.answer.set()
        while journal.calls[-1] != "acked b.1":
            await asyncio.sleep(0)
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving

    asyncio.run(asyncio.wait_for(run(), 10))
    assert journal.calls == [
        "store a.1",
        "ack a.1",
        "store b.1",
        "acked a.1",
        "ack b.1",
        "acked b.1",
    ]


def test_acknowledgements_in_flight_when_the_term_ends_are_dropped_not_sent_late() -> None:
    """serve() cancelled (the term ends) while a stored batch's acknowledgements wait
    for their answers: they are cancelled with it (Mesos sends those updates again)."""
    journal = SlowAcks()
    recorder = recorder_of(journal)

    async def run() -> None:
        serving = await first_ack_out(recorder, journal)
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        journal.answer.set()
        for _ in range(100):
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(run(), 10))
    assert journal.calls == ["store a.1", "ack a.1"]


def test_a_task_created_while_a_round_reads_redis_still_gets_its_revive() -> None:
    """Suppressed, no offers held: the round asks Redis whether anything waits. A task
    created during that read (its `waiting` event arrives meanwhile, the count was
    taken before it) must leave the hint set, so the next round revives."""
    from hippo.shared.settings import Settings
    from hippo.worker.offer_round import OfferRound

    revived: list[str] = []

    class Client:
        stream_id = "stream"

        async def revive(self) -> None:
            revived.append("REVIVE")

    class Store:
        counts = [0, 1]  # the task was stored just after the first count

        async def waiting_count(self) -> int:
            offer_round.trigger.wake(waiting=True)  # the API's event, mid-read
            return self.counts.pop(0)

    book = OfferBook(hold_s=2, revive_min_interval_s=0)
    offer_round = OfferRound(
        Settings.from_env({}), Store(), 1, WorkerMetrics(), book, spawn=lambda job: None
    )  # type: ignore[arg-type]

    async def two_rounds() -> None:
        await offer_round.once(Client())  # type: ignore[arg-type]
        assert offer_round.trigger.waiting_hint and not revived
        await offer_round.once(Client())  # type: ignore[arg-type]

    asyncio.run(two_rounds())
    assert revived == ["REVIVE"]


class Batches(Journal):
    """Notes the updates of each batch stored and acknowledged."""

    def __init__(self) -> None:
        super().__init__(store_fails=False)
        self.stored: list[list[str]] = []
        self.acked: list[list[str]] = []

    async def record_updates(self, epoch: int, now: float, updates: Any) -> Any:
        self.stored.append([u.mesos_id for u in updates])
        return await super().record_updates(epoch, now, updates)

    async def acknowledge_updates(self, statuses: Any) -> int:
        self.acked.append([s.task_id for s in statuses])
        return len(statuses)


def test_updates_are_recorded_oldest_first_in_batches_of_what_arrived() -> None:
    journal = Batches()
    recorder = recorder_of(journal)
    names = [f"t{n}.1" for n in range(2 * UPDATE_BATCH + 1)]

    async def run() -> None:
        serving = asyncio.create_task(recorder.serve(journal))  # type: ignore[arg-type]
        for name in names:
            recorder.put(status(name, "TASK_RUNNING"))
        while sum(map(len, journal.acked)) < len(names):
            await asyncio.sleep(0)
        recorder.put(status("late.1", "TASK_RUNNING"))  # serve() waits: it wakes for this
        while journal.acked[-1] != ["late.1"]:
            await asyncio.sleep(0)
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    asyncio.run(asyncio.wait_for(run(), 10))
    expected = [names[:UPDATE_BATCH], names[UPDATE_BATCH:-1], names[-1:], ["late.1"]]
    assert journal.stored == expected and journal.acked == expected
