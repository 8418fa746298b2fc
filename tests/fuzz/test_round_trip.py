"""Property: any valid queue or one-off task document comes back from the API as it was
sent (every field sent, at any depth, with the value sent; defaults filled in beside
them), in the POST answer and in a later GET, secrets aside (shown `********`).
Derandomized and bounded, so it is the same examples every run."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hippo.shared.model import MAX_DELAY_S

EXAMPLES = 30
MASK = "********"

# What a process can receive (no NUL, no lone surrogate), as JSON carries it.
exec_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)
env_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00="),
    min_size=1,
    max_size=20,
)
ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,30}\Z")
positive = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=2**31)
plain = st.text(alphabet=string.ascii_letters + string.digits + "-_./:", min_size=1, max_size=30)

docker = st.one_of(
    st.fixed_dictionaries(
        {"image": plain},
        optional={
            "network": st.sampled_from(["BRIDGE", "HOST", "NONE"]),
            "forcePullImage": st.booleans(),
        },
    ),
    st.fixed_dictionaries({"image": plain, "network": st.just("USER"), "networkName": plain}),
)
volume = st.fixed_dictionaries(
    {"containerPath": plain, "hostPath": plain, "mode": st.sampled_from(["RO", "RW"])}
)
constraint = st.one_of(
    st.tuples(plain, st.just("UNIQUE")).map(list),
    st.tuples(plain, st.just("GROUP_BY")).map(list),
    st.tuples(plain, st.sampled_from(["CLUSTER", "EQUAL", "UNEQUAL", "IS"]), plain).map(list),
    st.tuples(plain, st.sampled_from(["MAX_PER", "GROUP_BY"]), st.integers(1, 99).map(str)).map(
        list
    ),
    st.tuples(
        plain, st.sampled_from(["LIKE", "UNLIKE"]), st.sampled_from(["a.*", "^r[0-9]+$"])
    ).map(list),
)
callback = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {"callback_url": st.sampled_from(["http://hooks.example/x", "https://h:8443/p?q=1"])},
        optional={"callback_secret": exec_text},
    ),
)
JOB = {
    "container": st.fixed_dictionaries(
        {"docker": docker}, optional={"volumes": st.lists(volume, max_size=2)}
    ),
    "mem": positive,
    "cpus": positive,
    "cmd": exec_text,
}
JOB_OPTIONAL = {
    "env": st.dictionaries(env_name, st.text(max_size=40).filter(lambda v: "\x00" not in v)),
    "constraints": st.lists(constraint, max_size=3),
    "task_retries": counts,
    "system_retries": counts,
    "retry_delay_seconds": st.floats(0, MAX_DELAY_S),
    "retry_backoff_factor": st.floats(1, 100),
    "retry_max_delay_seconds": st.floats(0.001, MAX_DELAY_S),
    "max_runtime_seconds": st.one_of(st.none(), positive),
    "max_pending_seconds": st.one_of(st.none(), positive),
}
tasks = st.builds(
    lambda job, cb: {**job, **cb},
    st.fixed_dictionaries(
        JOB, optional={**JOB_OPTIONAL, "id": ids, "max_concurrent": st.integers(1, 2**31)}
    ),
    callback,
)
cron = st.fixed_dictionaries(
    {"cronstring": st.sampled_from(["* * * * *", "*/5 1-3 * * MON-FRI", "0 0 1 1 *"])},
    optional={
        "maxbacklog": st.integers(0, 100),
        "timezone": st.sampled_from(["UTC", "Europe/Paris"]),
    },
)
redis_list = st.fixed_dictionaries(
    {"host": plain, "name": plain},
    optional={"port": st.integers(1, 65535), "db": st.integers(0, 15), "password": exec_text},
)
queue_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("cron"), "cron": cron}),
    st.fixed_dictionaries({"type": st.just("redis"), "redis": redis_list}),
).flatmap(
    lambda block: st.fixed_dictionaries(
        {k: st.just(v) for k, v in block.items()},
        optional={
            "name": st.text(max_size=20).filter(lambda v: "\x00" not in v),
            "max_concurrent": st.integers(1, 2**31),
            "batch_size": st.integers(1, 1000),
            "batch_separator": st.text(max_size=3),
            "frequency_seconds": positive,
            "status": st.sampled_from(["ENABLED", "DISABLED"]),
        },
    )
)
queues = st.builds(
    lambda job, cb, qid, block: {**job, **cb, "id": qid, "queue": block},
    st.fixed_dictionaries(JOB, optional=JOB_OPTIONAL),
    callback,
    ids,
    queue_block,
)
SECRETS = {"callback_secret", "password"}


def differences(sent: Any, shown: Any, path: str = "") -> list[str]:
    """Where `shown` does not carry what was `sent` (secrets: shown masked)."""
    if isinstance(sent, dict):
        if not isinstance(shown, dict):
            return [f"{path}: sent an object, shown {shown!r}"]
        found = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            if key not in shown:
                # Decision: a field sent as null, its default, is left out of the answer,
                # as the API leaves out every unset optional field.
                if value is not None:
                    found.append(f"{where}: missing")
            elif key in SECRETS:
                if shown[key] != MASK:
                    found.append(f"{where}: a secret shown as {shown[key]!r}")
            else:
                found += differences(value, shown[key], where)
        return found
    if isinstance(sent, list):
        if not isinstance(shown, list) or len(sent) != len(shown):
            return [f"{path}: sent {sent!r}, shown {shown!r}"]
        return [
            d
            for n, (a, b) in enumerate(zip(sent, shown, strict=True))
            for d in differences(a, b, f"{path}[{n}]")
        ]
    if sent != shown or type(sent) is bool and type(shown) is not bool:
        return [f"{path}: sent {sent!r}, shown {shown!r}"]
    return []


SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(task=tasks)
def test_a_valid_task_comes_back_as_sent(api: TestClient, task: dict[str, Any]) -> None:
    created = api.post("/tasks/", json=task)
    assert created.status_code == 201, created.text
    assert differences(task, created.json()) == []
    read = api.get(f"/tasks/{created.json()['mesos_id']}/")
    assert read.status_code == 200
    assert differences(task, read.json()) == []
    assert read.json() == {**created.json(), "pending_reason": read.json()["pending_reason"]}


@SETTINGS
@given(queue=queues)
def test_a_valid_queue_comes_back_as_sent(api: TestClient, queue: dict[str, Any]) -> None:
    created = api.post("/queues/", json=queue)
    assert created.status_code in (200, 201), created.text
    assert differences(queue, created.json()) == []
    read = api.get(f"/queues/{queue['id']}/")
    assert read.status_code == 200
    assert differences(queue, read.json()) == []
