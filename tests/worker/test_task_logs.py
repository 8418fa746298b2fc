"""GET /tasks/{mesos_id}/logs/{stdout|stderr}: a task's output read from its sandbox,
through the dev master (a real worker runs the task)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

from tests.conftest import free_port, wait_until

from .conftest import Cluster
from .test_worker import post_task, state_of

OUTPUT = "printf 'hello\\nw\\303\\266rld\\n'; echo oops >&2"


def test_a_finished_task_s_output_reads_whole_and_in_pieces(
    make_cluster: Callable[..., Cluster], make_client: Callable[..., TestClient]
) -> None:
    cluster = make_cluster()
    api = make_client(HIPPO_MESOS_MASTER=cluster.devmaster.url)
    cluster.start_worker()
    cluster.leader()
    task = post_task(api, OUTPUT, id="talker")
    mid = task["mesos_id"]
    wait_until(lambda: state_of(api, mid) == "TASK_FINISHED", 20, "talker finished")

    whole = api.get(f"/tasks/{mid}/logs/stdout").json()
    assert whole == {
        "mesos_id": mid,
        "name": "stdout",
        "offset": 0,
        "next_offset": 13,
        "size": 13,
        "data": "hello\nwörld\n",
    }
    # The dev master notes in stderr how it ran the command, as a Mesos executor does.
    assert api.get(f"/tasks/{mid}/logs/stderr/").json()["data"].endswith("oops\n")
    # "ö" is two bytes: a piece that would cut it stops before it.
    piece = api.get(f"/tasks/{mid}/logs/stdout?offset=6&length=2").json()
    assert (piece["data"], piece["next_offset"]) == ("w", 7)
    rest = api.get(f"/tasks/{mid}/logs/stdout?offset=7").json()
    assert (rest["data"], rest["next_offset"]) == ("örld\n", 13)
    end = api.get(f"/tasks/{mid}/logs/stdout?offset=13").json()
    assert (end["data"], end["next_offset"], end["size"]) == ("", 13, 13)


def test_output_of_a_running_task_grows_as_it_prints(
    make_cluster: Callable[..., Cluster], make_client: Callable[..., TestClient]
) -> None:
    cluster = make_cluster()
    api = make_client(HIPPO_MESOS_MASTER=cluster.devmaster.url)
    cluster.start_worker()
    cluster.leader()
    task = post_task(api, "echo first; sleep 1; echo second; sleep 60", id="slow")
    mid = task["mesos_id"]
    wait_until(lambda: state_of(api, mid) == "TASK_RUNNING", 20, "slow running")
    wait_until(
        lambda: api.get(f"/tasks/{mid}/logs/stdout").json()["data"] == "first\n", 20, "first"
    )
    later = lambda: api.get(f"/tasks/{mid}/logs/stdout?offset=6").json()["data"]  # noqa: E731
    wait_until(lambda: later() == "second\n", 20, "second")


def test_logs_errors_name_the_problem(
    make_cluster: Callable[..., Cluster], make_client: Callable[..., TestClient]
) -> None:
    cluster = make_cluster()
    api = make_client(HIPPO_MESOS_MASTER=cluster.devmaster.url)
    waiting = post_task(api, "true", id="early")  # no worker yet: it cannot launch
    answer = api.get(f"/tasks/{waiting['mesos_id']}/logs/stdout")
    assert answer.status_code == 409
    assert "has not launched: it has no output yet" in answer.json()["error"]
    assert api.get("/tasks/nope.1/logs/stdout").status_code == 404
    bad = api.get(f"/tasks/{waiting['mesos_id']}/logs/stdout?length=0")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "length"
    assert api.get(f"/tasks/{waiting['mesos_id']}/logs/syslog").status_code == 404

    cluster.start_worker()
    cluster.leader()
    wait_until(lambda: state_of(api, waiting["mesos_id"]) == "TASK_FINISHED", 20, "finished")
    nobody = make_client(HIPPO_MESOS_MASTER=f"http://127.0.0.1:{free_port()}")
    down = nobody.get(f"/tasks/{waiting['mesos_id']}/logs/stdout")
    assert down.status_code == 502
    assert down.json()["error"].startswith("no Mesos master answered")
