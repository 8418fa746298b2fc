"""The original Hippo's client against a live `hippo api`: its page's and its scripts'
calls, in the shapes the original spoke (tests/compat/original_client.py), answered as
they expect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compat.original_client import OriginalClient
from tests.conftest import free_port, start_hippo_api
from tests.test_api_openapi import check_exchange


@pytest.fixture
def old_client(redis_url: str) -> Iterator[OriginalClient]:
    """The old client on a live API; afterwards, each of its requests and the answer it
    got are checked against /openapi.json (what the API says it takes and answers)."""
    process, url = start_hippo_api(redis_url)
    answers: list[httpx.Response] = []
    try:
        with httpx.Client(
            base_url=url, timeout=30, event_hooks={"response": [answers.append]}
        ) as http:
            yield OriginalClient(http)
            document = http.get("/openapi.json").json()
        for answer in answers:
            request = answer.request
            body = json.loads(request.content) if request.content else None
            target = request.url.raw_path.decode()
            check_exchange(document, request.method, target, body, answer)
    finally:
        process.terminate()
        process.wait(20)


def _form_fields() -> dict[str, dict[str, str]]:
    """What a person types into the page's form for each type; everything else is left
    blank (so its default applies). `number` inputs are typed as digits."""
    closed = free_port()  # nothing listens: the SQL check is skipped, as for a DB away
    return {
        "sqs": {"awskey": "AKIAOLD", "awssecret": "old-secret", "queuename": "jobs"},
        "s3bucket": {
            "awskey": "AKIAOLD",
            "awssecret": "old-secret",
            "bucket_name": "incoming/today",
            "earliest_unix_tstamp": "1700000000",
        },
        "redis": {"host": "127.0.0.1", "port": "6379", "db": "2", "name": "jobs"},
        "sqlquery": {
            "conn_string": f"postgresql://app:old-pw@127.0.0.1:{closed}/jobs",
            "query": "SELECT id FROM jobs",
            "filter_field": "id",
        },
        "cron": {},
    }


def _queue(old: OriginalClient, queue_id: str) -> dict[str, Any]:
    (found,) = [q for q in old.queues() if q["id"] == queue_id]
    return found


def test_the_original_page_creates_edits_disables_enables_and_deletes_each_type_of_queue(
    old_client: OriginalClient,
) -> None:
    old = old_client
    types = old.queuetypes()
    assert {t["namespace"] for t in types} == {"sqs", "s3bucket", "redis", "sqlquery", "cron"}
    for qtype in types:
        assert qtype["label"] and all(
            set(details) <= {"input", "label", "default"} and details["label"]
            for details in qtype["inputs"].values()
        )
    for namespace, fields in _form_fields().items():
        # New queue: the page's form, the id field left blank.
        body = old.queue_form(namespace, fields, name=f"old {namespace}")
        queue_id = old.save_queue(body)
        created = _queue(old, queue_id)
        assert created["queue"]["type"] == namespace
        assert created["queue"]["status"] == "ENABLED"
        if namespace == "cron":  # left blank: the original's defaults
            cron = created["queue"]["cron"]
            assert (cron["cronstring"], cron["maxbacklog"]) == ("* * * * *", 1)

        # Edit: the form filled from the listed queue (secrets shown as the API shows
        # them), the command changed, posted to /queues/<id>/.
        edited = old.queue_form(
            namespace, {}, name=f"old {namespace} v2", queue_id=queue_id, current=created
        )
        edited["cmd"] = "echo edited $HIPPO_DATA"
        assert old.save_queue(edited, queue_id) == queue_id
        after = _queue(old, queue_id)
        assert (after["cmd"], after["queue"]["name"]) == (
            "echo edited $HIPPO_DATA",
            edited["queue"]["name"],
        )
        assert after["queue"][namespace] == created["queue"][namespace]

        old.disable(queue_id)
        assert _queue(old, queue_id)["queue"]["status"] == "DISABLED"
        old.enable(queue_id)
        assert _queue(old, queue_id)["queue"]["status"] == "ENABLED"
        old.delete_queue(queue_id)
        assert queue_id not in {q["id"] for q in old.queues()}


def test_a_deploy_script_re_applies_its_definition_to_queues(old_client: OriginalClient) -> None:
    old = old_client
    fields = _form_fields()["sqs"]
    body = old.queue_form("sqs", fields, name="nightly", queue_id="nightly")
    assert old.save_queue(body) == "nightly"
    body["cmd"] = "echo v2"
    assert old.save_queue(body) == "nightly"  # the same id again: updated, not refused
    # Re-applying what it read back (its secret masked) keeps the stored secret.
    shown = _queue(old, "nightly")
    shown["cmd"] = "echo v3"
    assert old.save_queue(shown) == "nightly"
    assert [(q["id"], q["cmd"]) for q in old.queues()] == [("nightly", "echo v3")]
    assert _queue(old, "nightly")["queue"]["sqs"] == shown["queue"]["sqs"]


def test_the_original_page_lists_tasks_by_time_kills_one_and_re_runs_one(
    old_client: OriginalClient,
) -> None:
    old = old_client
    earlier = {old.run_task("busybox", f"echo {n}") for n in range(110)}
    first = old.run_task("busybox", "sleep 600")
    second = old.run_task("busybox", "echo hello")
    listed = {t["mesos_id"]: t for t in old.tasks()}
    assert set(listed) == earlier | {first, second}  # every one: the old client pages not
    for record in listed.values():
        assert isinstance(record["status_tstamp"], float | int) and record["status_tstamp"] > 0

    old.kill(first)
    killed = {t["mesos_id"]: t for t in old.tasks()}[first]
    assert killed["mesos_state"] == "TASK_KILLED"
    assert killed["status_tstamp"] >= listed[first]["status_tstamp"]

    again = old.rerun(killed)
    rows = {t["mesos_id"]: t for t in old.tasks()}
    assert set(rows) == earlier | {first, second, again}
    assert (rows[again]["cmd"], rows[again]["mesos_state"]) == ("sleep 600", "WAITING_ON_OFFERS")
    assert rows[again]["id"] == killed["id"]
    # The page's sort: newest state change first.
    newest = max(rows.values(), key=lambda t: t["status_tstamp"])
    assert newest["mesos_id"] == again
