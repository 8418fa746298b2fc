"""The /queues/ and /queuetypes/ routes, with SPEC.md's example."""

from __future__ import annotations

import threading

import pytest
import redis
from starlette.testclient import TestClient

from tests.examples import SPEC_QUEUE, queue


def test_spec_queue_is_created_read_back_masked_toggled_and_deleted(api: TestClient) -> None:
    created = api.post("/queues/", json=SPEC_QUEUE)
    assert created.status_code == 201
    queue_id = created.json()["id"]

    shown = api.get(f"/queues/{queue_id}/").json()
    assert shown["queue"]["sqs"] == {
        "awskey": "someKey",
        "awssecret": "********",
        "awsregion": "someRegion",
        "endpoint_url": "",
        "queuename": "someSqsQueueName",
    }
    assert shown["cmd"] == SPEC_QUEUE["cmd"]
    assert shown["constraints"] == [["rack", "EQUAL", "rack1"]]
    assert shown["container"]["volumes"] == SPEC_QUEUE["container"]["volumes"]
    assert shown["queue"]["status"] == "ENABLED"
    assert shown["queue"]["last_run_tstamp"] == 0

    assert api.get(f"/queues/{queue_id}/toggle/").json() == {
        "id": queue_id,
        "status": "DISABLED",
        "disabled": queue_id,
    }
    assert api.get(f"/queues/{queue_id}/").json()["queue"]["status"] == "DISABLED"
    assert api.get(f"/queues/{queue_id}/toggle/").json()["status"] == "ENABLED"

    assert api.delete(f"/queues/{queue_id}/").json() == {"id": queue_id, "deleted": True}
    assert api.get(f"/queues/{queue_id}/").status_code == 404
    assert api.get("/queues/").json() == []


def test_defaults_are_filled_in(api: TestClient) -> None:
    body = {
        "container": {"docker": {"image": "busybox"}},
        "mem": 16,
        "cpus": 0.5,
        "cmd": "true",
        "queue": {"type": "cron", "cron": {"cronstring": "* * * * *"}},
    }
    shown = api.post("/queues/", json=body).json()
    assert shown["container"]["docker"]["network"] == "BRIDGE"
    assert shown["task_retries"] == 0
    assert shown["system_retries"] == 2
    assert shown["env"] == {}
    assert shown["constraints"] == []
    block = shown["queue"]
    assert (
        block["max_concurrent"],
        block["batch_size"],
        block["batch_separator"],
        block["frequency_seconds"],
        block["status"],
    ) == (10000, 1, "|", 60, "ENABLED")
    assert block["cron"] == {"cronstring": "* * * * *", "maxbacklog": 1, "timezone": "UTC"}


@pytest.mark.parametrize("method", ["post", "put"])
@pytest.mark.parametrize("slash", ["/", ""])
def test_queue_is_created_with_either_method_and_either_slash(
    api: TestClient, method: str, slash: str
) -> None:
    response = getattr(api, method)(f"/queues{slash}", json=queue(id="q1"))
    assert response.status_code == 201
    assert response.json()["id"] == "q1"
    assert api.get(f"/queues/q1{slash}").json()["id"] == "q1"


@pytest.mark.parametrize("method", ["post", "put"])
def test_an_existing_id_sent_to_queues_replaces_that_queue_as_the_original_did(
    api: TestClient, method: str
) -> None:
    api.post("/queues/", json=queue(id="q1", cmd="first"))
    api.get("/queues/q1/disable/")
    body = queue(id="q1", cmd="second")
    del body["queue"]["status"]
    response = getattr(api, method)("/queues/", json=body)
    assert response.status_code == 200
    shown = api.get("/queues/q1/").json()
    assert response.json() == shown
    # Re-applying a definition without a status keeps the operator's DISABLED.
    assert (shown["cmd"], shown["queue"]["status"]) == ("second", "DISABLED")
    assert [q["id"] for q in api.get("/queues/").json()] == ["q1"]


def test_if_none_match_star_refuses_an_existing_id_and_leaves_it_untouched(
    api: TestClient,
) -> None:
    api.post("/queues/", json=queue(id="q1", cmd="first"))
    response = api.post(
        "/queues/", json=queue(id="q1", cmd="second"), headers={"If-None-Match": "*"}
    )
    assert response.status_code == 409
    assert "q1" in response.json()["error"]
    assert api.get("/queues/q1/").json()["cmd"] == "first"
    created = api.post("/queues/", json=queue(id="q2"), headers={"If-None-Match": "*"})
    assert created.status_code == 201


def test_an_empty_id_is_generated(api: TestClient) -> None:
    response = api.post("/queues/", json=queue(id=""))
    assert response.status_code == 201
    queue_id = response.json()["id"]
    assert queue_id and api.get(f"/queues/{queue_id}/").status_code == 200


@pytest.mark.parametrize("method", ["post", "put"])
def test_replace_keeps_runtime_fields_and_masked_secrets(
    api: TestClient, raw_redis: redis.Redis, method: str
) -> None:
    api.post("/queues/", json=queue(id="q1"))
    raw_redis.hset("hippo:queue:q1", mapping={"last_run_tstamp": 1700000000.5, "items_taken": 7})
    shown = api.get("/queues/q1/").json()
    shown["cmd"] = "new command"
    shown["queue"]["sqs"]["queuename"] = "other"

    replaced = getattr(api, method)("/queues/q1/", json=shown)

    assert replaced.status_code == 200
    body = replaced.json()
    assert body["cmd"] == "new command"
    assert body["queue"]["last_run_tstamp"] == 1700000000.5
    assert body["queue"]["items_taken"] == 7
    assert body["queue"]["sqs"]["queuename"] == "other"
    assert body["queue"]["sqs"]["awssecret"] == "********"
    revealed = _revealed_settings(api, "q1")
    assert revealed["awssecret"] == "someSecret"


def test_replace_with_a_new_secret_stores_it(api: TestClient) -> None:
    api.post("/queues/", json=queue(id="q1"))
    body = queue()
    body["queue"]["sqs"]["awssecret"] = "rotated"
    api.put("/queues/q1/", json=body)
    assert _revealed_settings(api, "q1")["awssecret"] == "rotated"


def test_mask_without_a_stored_secret_is_refused(api: TestClient) -> None:
    body = queue()
    body["queue"]["sqs"]["awssecret"] = "********"
    response = api.post("/queues/", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "queue.sqs.awssecret"


def test_replace_of_missing_queue_is_404(api: TestClient) -> None:
    response = api.put("/queues/nope/", json=queue())
    assert response.status_code == 404
    assert response.json() == {"error": "no queue nope"}


def test_replace_refuses_a_different_id_in_the_body(api: TestClient) -> None:
    api.post("/queues/", json=queue(id="q1"))
    response = api.put("/queues/q1/", json=queue(id="q2"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "id"


def test_enable_and_disable_routes_for_old_clients(api: TestClient) -> None:
    api.post("/queues/", json=queue(id="q1"))
    assert api.get("/queues/q1/disable/").json()["status"] == "DISABLED"
    assert api.get("/queues/q1/disable").json()["status"] == "DISABLED"
    assert api.post("/queues/q1/enable/").json()["status"] == "ENABLED"
    assert api.get("/queues/nope/toggle/").status_code == 404


def test_status_given_at_creation_is_kept(api: TestClient) -> None:
    body = queue(id="q1")
    body["queue"]["status"] = "DISABLED"
    assert api.post("/queues/", json=body).json()["queue"]["status"] == "DISABLED"


def test_list_shows_every_queue_in_creation_order(api: TestClient) -> None:
    for name in ("b", "a", "c"):
        api.post("/queues/", json=queue(id=name))
    listed = api.get("/queues").json()
    assert [q["id"] for q in listed] == ["b", "a", "c"]
    assert all(q["queue"]["sqs"]["awssecret"] == "********" for q in listed)


def test_queuetypes_lists_the_five_types_with_parameters(api: TestClient) -> None:
    types = {t["type"]: t for t in api.get("/queuetypes/").json()}
    assert set(types) == {"sqs", "s3bucket", "redis", "sqlquery", "cron"}
    sqs = {p["name"]: p for p in types["sqs"]["parameters"]}
    assert set(sqs) >= {"awskey", "awssecret", "awsregion", "queuename"}
    assert sqs["awssecret"]["secret"] is True
    assert sqs["queuename"] == {
        "name": "queuename",
        "type": "str",
        "default": None,
        "required": True,
        "secret": False,
        "label": "SQS queue name",
        "help": "Each message is one item, deleted once its task is stored.",
    }
    assert {p["name"] for p in types["sqlquery"]["parameters"]} == {
        "conn_string",
        "query",
        "filter_field",
        "filter_val",
    }
    assert {p["name"] for p in types["cron"]["parameters"]} == {
        "cronstring",
        "maxbacklog",
        "timezone",
    }


def test_queuetypes_follows_the_enabled_setting(make_client) -> None:  # type: ignore[no-untyped-def]
    api = make_client(HIPPO_QUEUE_TYPES="redis,cron")
    assert [t["type"] for t in api.get("/queuetypes/").json()] == ["redis", "cron"]
    response = api.post("/queues/", json=queue())
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "queue.type"


def test_connection_string_shows_only_its_password_masked(api: TestClient) -> None:
    body = queue(id="sql")
    body["queue"] = {
        "type": "sqlquery",
        "sqlquery": {
            "conn_string": "jdbc:postgresql://app:s3cr%40t@db.example:5432/jobs",
            "query": "select id, name from jobs",
            "filter_field": "id",
            "filter_val": "0",
        },
    }
    shown = api.post("/queues/", json=body).json()
    assert shown["queue"]["sqlquery"]["conn_string"] == (
        "jdbc:postgresql://app:********@db.example:5432/jobs"
    )
    assert "s3cr" not in api.get("/queues/").text

    shown["queue"]["sqlquery"]["conn_string"] = (
        "jdbc:postgresql://app:********@db2.example:5432/jobs"
    )
    api.put("/queues/sql/", json=shown)
    assert _revealed_settings(api, "sql")["conn_string"] == (
        "jdbc:postgresql://app:s3cr%40t@db2.example:5432/jobs"
    )


def test_secrets_are_encrypted_at_rest(api: TestClient, raw_redis: redis.Redis) -> None:
    api.post("/queues/", json=queue(id="q1"))
    stored = b"".join(raw_redis.hgetall("hippo:queue:q1").values())
    assert b"someSecret" not in stored
    assert b"someKey" in stored  # not a secret: stays readable


def test_concurrent_replacements_leave_one_whole_definition(api: TestClient) -> None:
    api.post("/queues/", json=queue(id="q1"))
    errors = []

    def replace(writer: int) -> None:
        for round_ in range(15):
            body = queue(cmd=f"writer {writer}", mem=writer * 100 + round_)
            body["queue"]["sqs"]["awssecret"] = f"secret of {writer}"
            response = api.put("/queues/q1/", json=body)
            if response.status_code != 200:
                errors.append(response.text)

    threads = [threading.Thread(target=replace, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    final = api.get("/queues/q1/").json()
    writer = int(final["cmd"].split()[1])
    assert final["mem"] // 100 == writer
    assert _revealed_settings(api, "q1")["awssecret"] == f"secret of {writer}"


def _revealed_settings(api: TestClient, queue_id: str) -> dict[str, object]:
    """Settings as a poller sees them (secrets decrypted), through the store."""
    from hippo.shared.queues import queue_document

    state = api.app.state  # type: ignore[attr-defined]
    stored = api.portal.call(state.store.get_queue, queue_id)  # type: ignore[union-attr]
    doc = queue_document(queue_id, stored, state.sources, state.box, reveal=True)
    return doc["queue"][doc["queue"]["type"]]  # type: ignore[no-any-return]


def test_a_queue_re_enabled_by_replacing_it_is_due_at_once(
    api: TestClient, raw_redis: redis.Redis
) -> None:
    body = queue(id="q1")
    body["queue"]["status"] = "DISABLED"
    api.post("/queues/", json=body)
    raw_redis.zrem("hippo:queues:due", "q1")  # as after a worker dropped the disabled queue
    body["queue"]["status"] = "ENABLED"
    api.put("/queues/q1/", json=body)
    assert raw_redis.zscore("hippo:queues:due", "q1") == 0


def test_replacing_without_a_status_keeps_the_current_one(api: TestClient) -> None:
    api.post("/queues/", json=queue(id="q1"))
    api.get("/queues/q1/disable/")
    body = queue(cmd="new")
    del body["queue"]["status"]
    assert api.put("/queues/q1/", json=body).json()["queue"]["status"] == "DISABLED"
    body["queue"]["status"] = "ENABLED"
    assert api.put("/queues/q1/", json=body).json()["queue"]["status"] == "ENABLED"
