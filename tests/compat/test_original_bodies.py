"""Bodies the original Hippo accepted, accepted again: records sent back with the
original's own fields, its source parameters' types and defaults. Anything else unknown
is still refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.examples import queue, task

# A task record as the original stored and listed it.
ORIGINAL_TASK_RECORD = task(
    id="nightly",
    mesos_id="nightly.0b6e8f5e-7d4c-4d9f-9a57-3f1f1c7ad2a1",
    mesos_state="TASK_FINISHED",
    mesos_agent="agent-1",
    mesos_status="TASK_FINISHED",
    status_tstamp=1700000000.25,
)


def _s3(**settings: Any) -> dict[str, Any]:
    body = queue(id="s3")
    body["queue"].update(type="s3bucket", s3bucket={"bucket_name": "b", **settings}, sqs=None)
    del body["queue"]["sqs"]
    return body


def test_a_task_record_of_the_original_is_accepted_as_a_new_task(api: TestClient) -> None:
    response = api.post("/tasks/", json=ORIGINAL_TASK_RECORD)
    assert response.status_code == 201
    record = response.json()
    assert record["id"] == "nightly" and record["mesos_state"] == "WAITING_ON_OFFERS"
    assert record["mesos_id"] != ORIGINAL_TASK_RECORD["mesos_id"]
    assert "mesos_agent" not in record and "mesos_status" not in record


def test_a_queue_record_of_the_original_is_accepted(api: TestClient) -> None:
    body = queue(id="old", last_run_tstamp=1700000000)
    body["queue"].update(last_task_queued_tstamp=1700000000, last_s3key_processed_tstamp=5)
    response = api.post("/queues/", json=body)
    assert response.status_code == 201
    block = response.json()["queue"]
    assert "last_task_queued_tstamp" not in block and "last_s3key_processed_tstamp" not in block
    assert block["last_run_tstamp"] == 0  # Hippo's own poll state, not the sent one


@pytest.mark.parametrize(
    "path, body",
    [
        ("/tasks/", task(mesos_agentt="typo")),
        ("/queues/", queue(mesos_agent="a task's field, not a queue's")),
    ],
)
def test_other_unknown_fields_are_still_refused_by_name(
    api: TestClient, path: str, body: dict[str, Any]
) -> None:
    response = api.post(path, json=body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] in ("mesos_agentt", "mesos_agent")


@pytest.mark.parametrize(
    "sent, stored", [("", ""), ("1700000000", "1700000000"), (1700000000, "1700000000")]
)
def test_s3_earliest_unix_tstamp_is_text_as_in_the_original(
    api: TestClient, sent: Any, stored: str
) -> None:
    response = api.post("/queues/", json=_s3(earliest_unix_tstamp=sent))
    assert response.status_code == 201, response.text
    assert response.json()["queue"]["s3bucket"]["earliest_unix_tstamp"] == stored


def test_s3_earliest_unix_tstamp_defaults_to_empty_and_refuses_other_text(
    api: TestClient,
) -> None:
    created = api.post("/queues/", json=_s3()).json()
    assert created["queue"]["s3bucket"]["earliest_unix_tstamp"] == ""
    response = api.post("/queues/", json=_s3(earliest_unix_tstamp="yesterday"))
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "queue.s3bucket.earliest_unix_tstamp"
    assert "unix time" in error["message"] and "yesterday" in error["message"]


def test_queuetypes_answers_both_shapes_with_the_originals_inputs(api: TestClient) -> None:
    types = {t["namespace"]: t for t in api.get("/queuetypes/").json()}
    cron = types["cron"]
    assert cron["type"] == "cron"
    assert list(cron["inputs"]) == [p["name"] for p in cron["parameters"]]
    assert cron["inputs"]["cronstring"]["input"] == "text"
    assert cron["inputs"]["cronstring"]["default"] == "* * * * *"
    assert (cron["inputs"]["maxbacklog"]["input"], cron["inputs"]["maxbacklog"]["default"]) == (
        "number",
        1,
    )
    s3 = types["s3bucket"]["inputs"]
    assert s3["earliest_unix_tstamp"] == {
        "input": "text",
        "label": s3["earliest_unix_tstamp"]["label"],
        "default": "",
    }
    assert s3["awssecret"]["input"] == "password"
    assert "default" not in s3["bucket_name"]  # required: the original gave no default
    assert types["redis"]["inputs"]["ssl"]["input"] == "checkbox"
