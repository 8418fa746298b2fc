"""`hippo tasks …`, `hippo queues …`, `hippo queuetypes` against a real `hippo api` process."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.examples import SPEC_QUEUE, queue

from .conftest import Hippo


def write_json(tmp_path: Path, name: str, body: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return str(path)


def columns(header: str) -> list[int]:
    """Start offset of each column title (titles may hold one space, columns are 2 apart)."""
    return [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]


def test_queue_lifecycle_create_list_show_update_toggle_delete(
    hippo: Hippo, tmp_path: Path
) -> None:
    path = write_json(tmp_path, "q.json", queue(id="resize"))
    assert hippo("queues", "create", "-f", path).out == "created queue resize\n"

    listed = hippo("queues", "list")
    assert listed.code == 0
    header, row = listed.lines()
    assert header.split() == [
        "ID",
        "NAME",
        "TYPE",
        "STATUS",
        "LAST",
        "RUN",
        "(UTC)",
        "LAST",
        "ERROR",
    ]
    starts = columns(header)
    assert len(starts) == 6
    assert [row[s:].split("  ")[0] for s in starts] == [
        "resize",
        "myQueueName",
        "sqs",
        "ENABLED",
        "never",
        "-",
    ]

    shown = hippo("queues", "show", "resize")
    assert re.search(r"^id +resize$", shown.out, re.M)
    assert '"awssecret": "********"' in shown.out
    assert "someSecret" not in shown.out

    path = write_json(tmp_path, "q2.json", queue(id="resize", mem=64))
    assert hippo("queues", "update", "-f", path).out == "updated queue resize\n"
    assert hippo("queues", "show", "resize", "--json").json()["mem"] == 64

    assert hippo("queues", "toggle", "resize").out == "queue resize is now DISABLED\n"
    assert "DISABLED" in hippo("queues", "list").lines()[1]
    assert hippo("queues", "toggle", "resize", "--json").json() == {
        "id": "resize",
        "status": "ENABLED",
        "enabled": "resize",
    }

    assert hippo("queues", "delete", "resize").out == "deleted queue resize\n"
    gone = hippo("queues", "show", "resize")
    assert (gone.code, gone.out, gone.err) == (1, "", "hippo: 404 no queue resize\n")
    assert hippo("queues", "list").lines() == ["ID  NAME  TYPE  STATUS  LAST RUN (UTC)  LAST ERROR"]


def test_queue_update_takes_the_id_from_the_command_line(hippo: Hippo, tmp_path: Path) -> None:
    hippo("queues", "create", "-f", write_json(tmp_path, "q.json", queue(id="q1")))
    body = queue(cpus=0.5)
    body.pop("id", None)
    assert hippo("queues", "update", "q1", "-f", write_json(tmp_path, "u.json", body)).code == 0
    assert hippo("queues", "show", "q1", "--json").json()["cpus"] == 0.5


def test_queues_list_json_is_the_api_answer(hippo: Hippo, tmp_path: Path) -> None:
    hippo("queues", "create", "-f", write_json(tmp_path, "q.json", queue(id="a")))
    listed = hippo("queues", "list", "--json").json()
    assert [q["id"] for q in listed] == ["a"]
    assert listed[0]["queue"]["sqs"]["awssecret"] == "********"


def test_task_run_from_flags_list_show_kill_delete(hippo: Hippo) -> None:
    ran = hippo(
        "tasks",
        "run",
        "--image",
        "alpine",
        "--cmd",
        "echo $GREETING",
        "--id",
        "hello",
        "--env",
        "GREETING=hi there",
        "--env",
        "EMPTY=",
        "--cpus",
        "0.2",
        "--mem",
        "16",
        "--retries",
        "3",
        "--retry-delay",
        "5",
        "--retry-backoff",
        "3",
        "--retry-max-delay",
        "60",
        "--max-runtime",
        "600",
        "--max-pending",
        "120",
        "--json",
    )
    assert ran.code == 0
    record = ran.json()
    mesos_id = record["mesos_id"]
    assert mesos_id.startswith("hello.")
    assert record["container"]["docker"]["image"] == "alpine"
    assert record["env"] == {"GREETING": "hi there", "EMPTY": ""}
    assert (record["cpus"], record["mem"], record["task_retries"]) == (0.2, 16, 3)
    delays = ("retry_delay_seconds", "retry_backoff_factor", "retry_max_delay_seconds")
    assert [record[name] for name in delays] == [5, 3, 60]
    assert (record["max_runtime_seconds"], record["max_pending_seconds"]) == (600, 120)

    header, row = hippo("tasks", "list").lines()
    assert header.split() == ["MESOS_ID", "STATE", "AGENT", "CREATED", "(UTC)", "MESSAGE"]
    cells = [row[s:].split("  ")[0] for s in columns(header)]
    assert cells[:3] == [mesos_id, "WAITING_ON_OFFERS", "-"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[3])

    shown = hippo("tasks", "show", mesos_id)
    assert re.search(rf"^mesos_id +{re.escape(mesos_id)}$", shown.out, re.M)
    assert re.search(r"^created_tstamp +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", shown.out, re.M)
    assert hippo("tasks", "show", mesos_id, "--json").json()["mesos_id"] == mesos_id

    assert hippo("tasks", "kill", mesos_id).out == f"killed {mesos_id} (TASK_KILLED)\n"
    assert hippo("tasks", "show", mesos_id, "--json").json()["mesos_state"] == "TASK_KILLED"
    history = hippo("tasks", "history", mesos_id).out
    assert re.search(r"^\S+ \S+ +WAITING_ON_OFFERS +- +-$", history, re.M)
    assert re.search(r"^\S+ \S+ +TASK_KILLED +- +killed before launch$", history, re.M)
    assert re.search(rf"^\* +1 +{re.escape(mesos_id)} +TASK_KILLED ", history, re.M)
    assert hippo("tasks", "delete", mesos_id).out == f"deleted task {mesos_id}\n"
    gone = hippo("tasks", "show", mesos_id)
    assert gone.code == 1 and gone.err.startswith("hippo: 404 ")


def test_task_run_from_a_file_with_an_idempotency_key_runs_once(
    hippo: Hippo, tmp_path: Path
) -> None:
    body = {
        "id": "nightly",
        "container": {"docker": {"image": "alpine"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": "echo one",
    }
    path = write_json(tmp_path, "t.json", body)
    first = hippo("tasks", "run", "-f", path, "--idempotency-key", "nightly-1")
    match = re.fullmatch(r"created (nightly\.\S+) \(WAITING_ON_OFFERS\)\n", first.out)
    assert match, first.out
    again = hippo("tasks", "run", "-f", path, "--idempotency-key", "nightly-1")
    assert again.out == (
        f"already created with this idempotency key: {match[1]} (WAITING_ON_OFFERS)\n"
    )
    assert len(hippo("tasks", "list", "--json").json()) == 1


def test_flags_override_the_task_file(hippo: Hippo, tmp_path: Path) -> None:
    body = {
        "container": {"docker": {"image": "alpine"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": "echo one",
        "env": {"A": "1"},
    }
    path = write_json(tmp_path, "t.json", body)
    record = hippo("tasks", "run", "-f", path, "--cmd", "echo two", "--env", "B=2", "--json").json()
    assert (record["cmd"], record["env"]) == ("echo two", {"A": "1", "B": "2"})


def test_tasks_list_filters_pages_and_follows_the_cursor(hippo: Hippo) -> None:
    for n in range(5):
        hippo("tasks", "run", "--image", "alpine", "--cmd", "true", "--id", f"job{n % 2}")
    assert len(hippo("tasks", "list").lines()) == 6

    first_page = hippo("tasks", "list", "--limit", "2")
    assert len(first_page.lines()) == 3
    cursor = re.fullmatch(r"hippo: more tasks: add --cursor (\d+) or --all\n", first_page.err)
    assert cursor, first_page.err
    second_page = hippo("tasks", "list", "--limit", "2", "--cursor", cursor[1], "--json").json()
    assert len(second_page) == 2

    everything = hippo("tasks", "list", "--limit", "2", "--all", "--json").json()
    assert len({t["mesos_id"] for t in everything}) == 5
    shown = hippo("tasks", "list", "--limit", "2", "--all")
    assert len(shown.lines()) == 6 and shown.err == ""

    job0 = hippo("tasks", "list", "--id", "job0", "--json").json()
    assert sorted(t["id"] for t in job0) == ["job0"] * 3
    assert hippo("tasks", "list", "--state", "TASK_RUNNING", "--json").json() == []
    assert hippo("tasks", "list", "--queue", "nosuchqueue", "--json").json() == []


def test_field_errors_are_listed_one_per_line_with_exit_1(hippo: Hippo, tmp_path: Path) -> None:
    bad = hippo("tasks", "run", "--image", "alpine", "--cmd", "true", "--cpus", "-1", "--mem", "0")
    assert bad.code == 1 and bad.out == ""
    first, *fields = bad.err.splitlines()
    assert first.startswith("hippo: 422 ")
    assert sorted(line.split(":")[0] for line in fields) == ["  cpus", "  mem"]
    assert all(re.fullmatch(r"  \w+: \S.*", line) for line in fields)

    body = queue(id="bad")
    body["queue"] = {**SPEC_QUEUE["queue"], "type": "nosuchtype"}
    refused = hippo("queues", "create", "-f", write_json(tmp_path, "q.json", body))
    assert refused.code == 1
    assert "  queue.type: " in refused.err

    state = hippo("tasks", "list", "--state", "SLEEPING")
    assert state.code == 1
    assert "  state: is not a task state, got 'SLEEPING'" in state.err


def test_creating_a_queue_twice_is_a_409(hippo: Hippo, tmp_path: Path) -> None:
    path = write_json(tmp_path, "q.json", queue(id="twice"))
    hippo("queues", "create", "-f", path)
    again = hippo("queues", "create", "-f", path)
    assert again.code == 1
    assert again.err.startswith("hippo: 409 queue twice exists")


def test_unreachable_server_is_one_line_and_exit_2(hippo: Hippo) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (["tasks", "list"], ["queues", "list", "--json"], ["queuetypes"]):
        result = hippo(*argv, "--url", url)
        assert result.code == 2 and result.out == ""
        assert result.err.startswith(f"hippo: cannot reach Hippo at {url}: ")
        assert result.err.count("\n") == 1


def test_wrong_token_is_a_401_and_the_right_one_works(
    hippo: Hippo, start_api: Callable[..., str]
) -> None:
    url = start_api(HIPPO_API_TOKENS="s3cret,read:peek")
    refused = hippo("queues", "list", "--url", url, "--token", "wrong")
    assert (refused.code, refused.err) == (1, "hippo: 401 missing or unknown bearer token\n")
    assert hippo("queues", "list", "--url", url).code == 1
    assert hippo("queues", "list", "--json", "--url", url, HIPPO_TOKEN="s3cret").json() == []
    read_only = hippo("tasks", "run", "--image", "a", "--cmd", "b", "--url", url, "--token", "peek")
    assert (read_only.code, read_only.err) == (1, "hippo: 403 this token may only read\n")


def test_url_token_and_json_may_come_before_the_action(hippo: Hippo) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert hippo("tasks", "--url", url, "list").err.startswith(
        f"hippo: cannot reach Hippo at {url}"
    )
    assert hippo("queues", "--json", "list").json() == []


def test_bad_local_input_is_exit_2_before_anything_is_sent(hippo: Hippo, tmp_path: Path) -> None:
    missing = hippo("queues", "create", "-f", str(tmp_path / "nope.json"))
    assert (missing.code, missing.err) == (
        2,
        f"hippo: cannot read {tmp_path / 'nope.json'}: No such file or directory\n",
    )
    (tmp_path / "broken.json").write_text("{")
    assert hippo("tasks", "run", "-f", str(tmp_path / "broken.json")).err.startswith(
        f"hippo: {tmp_path / 'broken.json'} is not JSON: "
    )
    (tmp_path / "list.json").write_text("[]")
    assert (
        "must hold a JSON object, got list"
        in hippo("queues", "create", "-f", str(tmp_path / "list.json")).err
    )
    env = hippo("tasks", "run", "--image", "a", "--cmd", "b", "--env", "NOEQUALS")
    assert (env.code, env.err) == (2, "hippo: --env takes NAME=VALUE, got 'NOEQUALS'\n")
    bare = hippo("tasks", "run", "--cmd", "b")
    assert (bare.code, bare.err) == (
        2,
        "hippo: tasks run needs --image and --cmd, or -f FILE.json\n",
    )
    assert hippo("tasks", "list", "--json").json() == []


def test_queuetypes_lists_every_source_type(hippo: Hippo) -> None:
    blocks = hippo("queuetypes").out.strip().split("\n\n")
    types = {block.split(":")[0] for block in blocks}
    assert {"sqs", "s3bucket", "redis", "sqlquery", "cron"} <= types
    sqs = next(block for block in blocks if block.startswith("sqs: AWS SQS\n"))
    assert re.search(r"^awssecret +str +\"\" +no +yes ", sqs, re.M)
    assert {k["type"] for k in hippo("queuetypes", "--json").json()} == types


def test_the_installed_hippo_command_runs_the_client(hippo_url: str, tmp_path: Path) -> None:
    """The console script as a user types it, in its own process."""
    env = {**os.environ, "HIPPO_URL": hippo_url}
    script = Path(sys.executable).with_name("hippo")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "hippo"]
    result = subprocess.run(
        [*argv, "tasks", "run", "--image", "alpine", "--cmd", "true"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created ")
    listed = subprocess.run(
        [*argv, "tasks", "list"], capture_output=True, text=True, env=env, timeout=30
    )
    assert "WAITING_ON_OFFERS" in listed.stdout


def test_task_show_leads_with_the_run_then_the_definition(hippo: Hippo) -> None:
    mesos_id = hippo("tasks", "run", "--image", "alpine", "--cmd", "true", "--json").json()[
        "mesos_id"
    ]
    keys = [line.split()[0] for line in hippo("tasks", "show", mesos_id).lines()]
    assert keys[:4] == ["mesos_id", "id", "queue_id", "mesos_state"]
    assert keys.index("created_tstamp") < keys.index("container")


def test_output_cut_short_by_the_reader_is_not_an_error(hippo_url: str) -> None:
    """`hippo tasks list | head -1` leaves quietly, without a traceback."""
    env = {**os.environ, "HIPPO_URL": hippo_url}
    # More than a pipe's buffer (64 KiB), so the writer does meet the closed pipe.
    with httpx.Client(base_url=hippo_url) as http:
        for n in range(150):
            http.post(
                "/tasks/",
                json={
                    "container": {"docker": {"image": "a"}},
                    "mem": 32,
                    "cpus": 0.1,
                    "cmd": f"echo {n}",
                },
            ).raise_for_status()
    reader = subprocess.run(
        f"{shlex.quote(sys.executable)} -m hippo tasks list --json | head -c 1",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert reader.stdout == "["
    assert "Traceback" not in reader.stderr


def seed_dead_letter(redis_url: str, queue_id: str, data: str) -> str:
    """An undeliverable item's dead letter, stored as the poller stores it."""
    import uuid

    import redis

    from hippo.shared.deadletters import undeliverable_dead_letter
    from hippo.shared.store.task_lua import TASK_HELPERS

    spec = {
        "container": {"docker": {"image": "alpine"}},
        "mem": 32,
        "cpus": 0.1,
        "cmd": "true",
        "env": {"HIPPO_DATA": data, "HIPPO_DATA_BASE64": ""},
        "max_concurrent": 10,
    }
    dead_letter_id = f"{queue_id}.{uuid.uuid4()}"
    record = undeliverable_dead_letter(dead_letter_id, queue_id, spec, "is too big", 1.0)
    client = redis.Redis.from_url(redis_url)
    script = TASK_HELPERS + "store_dead_letter(ARGV[2], ARGV[3], ARGV[4]) return 1"
    client.eval(script, 0, "hippo:", queue_id, dead_letter_id, record)
    client.close()
    return dead_letter_id


def test_dead_letters_are_listed_shown_run_again_and_discarded(
    hippo: Hippo, tmp_path: Path, redis_url: str
) -> None:
    hippo("queues", "create", "-f", write_json(tmp_path, "q.json", queue(id="dl")))
    first = seed_dead_letter(redis_url, "dl", "item one")
    second = seed_dead_letter(redis_url, "dl", "item two")

    listed = hippo("deadletters", "list", "dl")
    assert listed.code == 0
    header, *rows = listed.lines()
    assert header.split()[:3] == ["ID", "CAUSE", "RUNS"]
    assert [row.split()[0] for row in rows] == [second, first]  # newest first
    assert "undeliverable" in rows[0] and "item two" in rows[0] and "never run" in rows[0]
    assert [d["id"] for d in hippo("deadletters", "list", "dl", "--json").json()] == [
        second,
        first,
    ]
    shown = hippo("deadletters", "show", "dl", first)
    assert re.search(r"^data +item one$", shown.out, re.M)

    refused = hippo("deadletters", "rerun", "dl")
    assert (refused.code, refused.err) == (2, "hippo: deadletters rerun: give an ID or --all\n")
    rerun = hippo("deadletters", "rerun", "dl", first)
    assert rerun.code == 0 and rerun.out.startswith(f"running {first} again as dl.")
    mesos_id = rerun.out.split()[-1]
    assert hippo("tasks", "show", mesos_id, "--json").json()["env"]["HIPPO_DATA"] == "item one"

    assert hippo("deadletters", "discard", "dl", "--all").out == "discarded 1 dead letters\n"
    assert hippo("deadletters", "list", "dl", "--json").json() == []
    missing = hippo("deadletters", "show", "dl", first)
    assert missing.code == 1 and "404" in missing.err
