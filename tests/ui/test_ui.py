"""The web UI in a real browser (Debian's chromium, driven by Playwright) against a live
`hippo api`, a worker and the dev master: what an operator does, and what they see."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import redis

from hippo.shared.secrets import SecretBox
from hippo.shared.settings import Settings
from tests.conftest import wait_until
from tests.examples import queue
from tests.ui.conftest import READ_TOKEN, WRITE_TOKEN, Live, open_page, screenshot


def _port(redis_url: str) -> str:
    match = re.search(r":(\d+)/", redis_url)
    assert match, redis_url
    return match.group(1)


def create_redis_queue_through_the_form(page: Any, live: Live, queue_id: str, items: str) -> None:
    page.get_by_role("link", name="Queues").click()
    page.get_by_role("link", name="New queue").click()
    form = page.locator("#queue-form")
    form.get_by_label("Queue id").fill(queue_id)
    form.get_by_label("Type").select_option("redis")
    form.locator('[data-field="queue.redis.host"]').fill("127.0.0.1")
    form.locator('[data-field="queue.redis.port"]').fill(_port(live.redis_url))
    form.locator('[data-field="queue.redis.name"]').fill(items)
    form.get_by_label("Poll every (seconds)").fill("1")
    form.get_by_label("Command").fill('echo "got $HIPPO_DATA"')
    form.get_by_label("Memory (MB)").fill("16")
    form.get_by_role("button", name="Create queue").click()
    page.locator("#queues tr", has_text=queue_id).wait_for()


def test_a_queue_made_in_the_form_runs_pushed_items_and_a_task_shows_its_data(
    page: Any, live: Live
) -> None:
    create_redis_queue_through_the_form(page, live, "ui-images", "ui:items")
    with live.api() as api:
        stored = api.get("/queues/ui-images/").json()
    assert stored["queue"]["redis"]["name"] == "ui:items"
    assert stored["queue"]["frequency_seconds"] == 1

    client = redis.Redis.from_url(live.redis_url)
    try:
        client.rpush("ui:items", "cat.png", "dog.png")
    finally:
        client.close()

    page.locator("#queues tr", has_text="ui-images").get_by_role("link", name="Tasks").click()
    finished = page.locator("#tasks tr", has=page.locator("[data-state=TASK_FINISHED]"))
    finished.nth(1).wait_for()
    assert page.locator("#tasks tr").count() == 2

    finished.first.get_by_role("link").first.click()
    page.locator("#task-state [data-state=TASK_FINISHED]").wait_for()
    data = page.locator("#task-data").text_content()
    assert data in ("cat.png", "dog.png")
    page.locator("#output-stdout").get_by_text(f"got {data}").wait_for()
    assert "echo" in page.locator("#task-definition").text_content()
    assert page.locator("#task-history li").count() >= 2


def test_a_queue_shows_its_active_and_waiting_tasks(page: Any, live: Live) -> None:
    # The agent has 2 cpus: one task of 1.5 runs, the next waits for an offer.
    body = queue(id="ui-busy", cmd="sleep 600", mem=16, cpus=1.5)
    body["queue"] = {
        "type": "redis",
        "frequency_seconds": 1,
        "redis": {"host": "127.0.0.1", "port": int(_port(live.redis_url)), "name": "ui:busy"},
    }
    body["container"] = {"docker": {"image": "alpine"}}
    body["constraints"] = []
    with live.api() as api:
        assert api.post("/queues/", json=body).status_code == 201
    client = redis.Redis.from_url(live.redis_url)
    try:
        client.rpush("ui:busy", "first", "second")
    finally:
        client.close()
    page.get_by_role("link", name="Queues").click()
    row = page.locator("#queues tr", has_text="ui-busy")

    row.locator("td[data-label=Active]", has_text="1").wait_for()
    row.locator("td[data-label=Waiting]", has_text="1").wait_for()
    row.locator("td[data-label='Items taken']", has_text="2").wait_for()
    with live.api() as api:
        assert api.post("/queues/ui-busy/disable/").status_code == 200
        for task in api.get("/tasks/", params={"queue_id": "ui-busy"}).json():
            api.post(f"/tasks/{task['mesos_id']}/kill/")


def test_a_waiting_task_says_why_in_the_list_and_on_its_page(page: Any, live: Live) -> None:
    with live.api() as api:
        created = api.post(
            "/tasks/",
            json={
                "id": "ui-too-big",
                "cmd": "true",
                "cpus": 8,
                "mem": 16,
                "container": {"docker": {"image": "alpine"}},
            },
        )
        assert created.status_code == 201, created.text
    mesos_id = created.json()["mesos_id"]
    row = page.locator("#tasks tr", has_text=mesos_id)
    row.locator("td.reason", has_text="no offer has enough cpus").wait_for()
    screenshot(page, "tasks")

    row.get_by_role("link", name=mesos_id).click()

    reason = page.locator("#pending-reason")
    reason.get_by_text("it needs 8 cpus").wait_for()
    assert "the largest offers seen had" in reason.text_content()
    screenshot(page, "waiting-reason")
    with live.api() as api:
        assert api.post(f"/tasks/{mesos_id}/kill/").status_code == 200


def test_the_cluster_view_shows_the_leader_and_its_master(page: Any, live: Live) -> None:
    page.get_by_role("link", name="Cluster").click()
    master = page.locator("[data-fact=master] dd")
    master.get_by_text(live.devmaster.url.split("//")[-1].rstrip("/")).wait_for()
    leader = page.locator("[data-fact=leader] dd")
    assert "no leader" not in leader.text_content()
    page.locator("[data-fact=agents] dd", has_text="1").wait_for()


def test_a_queues_last_error_looks_stale_once_a_later_poll_worked(page: Any, live: Live) -> None:
    now = time.time()
    polls = {
        # Failed an hour ago, polled fine since: old news.
        "ui-recovered": {"last_error_tstamp": now - 3600, "last_run_tstamp": now - 30},
        # Failing now: the last good poll is older than the error.
        "ui-failing": {"last_error_tstamp": now - 20, "last_run_tstamp": now - 7200},
    }
    client = redis.Redis.from_url(live.redis_url)
    try:
        with live.api() as api:
            for queue_id, fields in polls.items():
                body = queue(id=queue_id)
                body["queue"]["status"] = "DISABLED"  # not polled: the times stay as set
                assert api.post("/queues/", json=body).status_code == 201
                # The poll fields as a worker's poll writes them (shared/store/lease_scripts.py).
                client.hset(
                    f"hippo:queue:{queue_id}",
                    mapping={**fields, "last_error": f"{queue_id}: connection refused"},
                )
    finally:
        client.close()
    page.get_by_role("link", name="Queues").click()

    recovered = page.locator("#queues tr", has_text="ui-recovered").locator(".queue-error")
    failing = page.locator("#queues tr", has_text="ui-failing").locator(".queue-error")
    recovered.wait_for()
    assert "stale" in recovered.get_attribute("class")
    assert re.search(r"\b(\d+ min|1 h) ago", recovered.text_content())
    assert "a later poll worked" in recovered.text_content()
    assert "current" in failing.get_attribute("class")
    assert re.search(r"\b\d+ (s|min) ago", failing.text_content())
    screenshot(page, "queues")


def test_a_failed_items_dead_letter_is_listed_and_discarded(page: Any, live: Live) -> None:
    body = queue(id="ui-dead", cmd="echo cannot do $HIPPO_DATA; exit 3", mem=16, cpus=0.1)
    body.update(task_retries=0, system_retries=0, constraints=[])
    body["container"] = {"docker": {"image": "alpine"}}
    body["queue"] = {
        "type": "redis",
        "frequency_seconds": 1,
        "redis": {"host": "127.0.0.1", "port": int(_port(live.redis_url)), "name": "ui:dead"},
    }
    with live.api() as api:
        assert api.post("/queues/", json=body).status_code == 201
    client = redis.Redis.from_url(live.redis_url)
    try:
        client.rpush("ui:dead", "broken.png")
    finally:
        client.close()
    page.get_by_role("link", name="Queues").click()
    page.locator("#queues tr", has_text="ui-dead").get_by_role("link", name="Dead letters").click()

    row = page.locator("#deadletters tr", has_text="broken.png")
    row.wait_for()
    assert "retries spent" in row.text_content()
    assert row.locator("[data-state=TASK_FAILED]").count() == 1

    row.get_by_role("button", name="Discard").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()

    page.get_by_text("No dead letters").wait_for()
    with live.api() as api:
        assert api.get("/queues/ui-dead/deadletters/").json() == []


def test_a_long_task_run_from_the_form_is_killed_from_its_page(page: Any) -> None:
    page.get_by_role("link", name="Run a task").click()
    form = page.locator("#task-form")
    form.get_by_label("Task id").fill("ui-long")
    form.get_by_label("Command").fill("sleep 600")
    form.get_by_label("Memory (MB)").fill("16")
    form.get_by_label("Environment").fill("GREETING=hello")
    form.get_by_text("Callback", exact=True).click()
    form.get_by_label("Callback URL").fill("http://127.0.0.1:9/hippo-callback")
    form.get_by_label("Callback secret").fill("sign-me")
    form.get_by_role("button", name="Run task").click()

    created = page.locator("#created-link")
    created.wait_for()
    assert created.text_content().startswith("ui-long.")
    created.click()
    page.locator("#task-state [data-state=TASK_RUNNING]").wait_for()
    definition = page.locator("#task-definition").text_content()
    assert "GREETING=hello" in definition
    assert "http://127.0.0.1:9/hippo-callback (signed)" in definition
    assert "sign-me" not in page.content()

    page.get_by_role("button", name="Kill").click()
    with page.expect_request(re.compile(r"/kill/$")) as kill:
        page.get_by_role("dialog").get_by_role("button", name="Kill").click()
    assert kill.value.method == "POST", "a page changes state with POST, never GET"

    page.locator("#task-state [data-state=TASK_KILLED]").wait_for()


def test_a_bad_value_is_shown_beside_its_field(page: Any) -> None:
    page.get_by_role("link", name="Run a task").click()
    form = page.locator("#task-form")
    form.get_by_label("Command").fill("true")
    form.get_by_label("CPUs").fill("-1")
    form.get_by_role("button", name="Run task").click()

    cpus = form.locator(".field", has=page.locator("input[name=cpus]"))
    error = cpus.locator(".field-error")
    error.wait_for()
    assert "greater than 0" in error.text_content()
    assert form.locator("input[name=cpus]").get_attribute("aria-invalid") == "true"
    assert form.locator(".field-error").count() == 1


def test_a_queue_is_toggled_and_edited(page: Any, live: Live) -> None:
    with live.api() as api:
        assert api.post("/queues/", json=queue(id="ui-toggled")).status_code == 201
    page.get_by_role("link", name="Queues").click()
    row = page.locator("#queues tr", has_text="ui-toggled")
    switch = row.get_by_role("switch")
    assert switch.get_attribute("aria-checked") == "true"

    with page.expect_request(re.compile(r"/toggle/$")) as toggle:
        switch.click()
    assert toggle.value.method == "POST", "a page changes state with POST, never GET"

    row.locator("[role=switch][aria-checked=false]").wait_for()
    with live.api() as api:
        assert api.get("/queues/ui-toggled/").json()["queue"]["status"] == "DISABLED"

    row.get_by_role("link", name="Edit").click()
    form = page.locator("#queue-form")
    form.get_by_label("Poll every (seconds)").fill("45")
    secret = form.locator('[data-field="queue.sqs.awssecret"]')
    assert secret.get_attribute("type") == "password"
    assert secret.input_value() == "", "a stored secret never reaches the page"
    screenshot(page, "queue-form")
    form.get_by_role("button", name="Save queue").click()
    page.locator("#queues tr", has_text="ui-toggled").wait_for()
    with live.api() as api:
        block = api.get("/queues/ui-toggled/").json()["queue"]
    assert block["frequency_seconds"] == 45
    assert block["status"] == "DISABLED", "an edit keeps the status the switch set"
    assert _stored_secret(live, "ui-toggled", "sqs", "awssecret") == "someSecret"

    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    with live.api() as api:
        assert api.get("/queues/ui-toggled/").status_code == 404


def _stored_secret(live: Live, queue_id: str, namespace: str, name: str) -> str:
    """A queue's secret as the poller will read it (decrypted from Redis)."""
    client = redis.Redis.from_url(live.redis_url)
    try:
        spec = json.loads(client.hget(f"hippo:queue:{queue_id}", "spec") or b"{}")
    finally:
        client.close()
    box = SecretBox(Settings.from_env({"HIPPO_REDIS_URL": live.redis_url}).cipher_keys)
    return box.decrypt(spec["queue"][namespace][name])


def test_the_page_asks_for_a_token_and_a_read_only_token_hides_writes(
    browser: Any, live: Live
) -> None:
    with live.api() as api:
        created = api.post(
            "/tasks/",
            json={
                "id": "ui-auth",
                "cmd": "sleep 600",
                "cpus": 0.1,
                "mem": 16,
                "container": {"docker": {"image": "a"}},
            },
        )
        assert created.status_code == 201, created.text
    page = open_page(browser, live, token=None)
    try:
        dialog = page.locator("#login")
        dialog.get_by_label("Token").wait_for()
        dialog.get_by_role("button", name="Cancel").click()
        page.locator("#message", has_text="The API needs a token").wait_for()
        with page.expect_response(lambda r: r.status == 401):
            pass  # the next refresh is refused too, and the dialog stays closed
        assert not dialog.is_visible()
        page.get_by_role("button", name="Token…").click()
        dialog.get_by_label("Token").fill(WRITE_TOKEN)
        dialog.get_by_label("Token").press("Enter")
        row = page.locator("#tasks tr", has_text="ui-auth.")
        row.get_by_role("button", name="Kill").wait_for()
        assert page.get_by_role("link", name="Run a task").is_visible()
        assert page.evaluate("sessionStorage.getItem('hippo-token')") == WRITE_TOKEN
        assert page.evaluate("localStorage.length") == 0

        page.get_by_role("button", name="Forget token").click()
        dialog.get_by_label("Token").wait_for()  # the API asks again: so does the page
        assert page.evaluate("sessionStorage.getItem('hippo-token')") is None
        dialog.get_by_label("Token").fill(READ_TOKEN)
        dialog.get_by_label("Token").press("Enter")
        page.locator("#access", has_text="read-only").wait_for()
        row.wait_for()
        assert not row.get_by_role("button", name="Kill").is_visible()
        assert not page.get_by_role("link", name="Run a task").is_visible()
    finally:
        page.context.close()


def test_a_network_error_is_shown_and_cleared_when_the_api_answers(page: Any) -> None:
    page.locator("#tasks").wait_for(state="attached")
    page.route("**/tasks/?*", lambda route: route.abort())
    banner = page.locator("#network")
    banner.wait_for()
    assert "Cannot reach the API" in banner.text_content()

    page.unroute("**/tasks/?*")

    banner.wait_for(state="hidden")


def test_no_view_scrolls_sideways_on_a_390_px_phone(browser: Any, live: Live) -> None:
    with live.api() as api:
        assert (
            api.post("/queues/", json=queue(id="ui-phone-queue-with-a-long-name")).status_code
            == 201
        )
        task = api.post(
            "/tasks/",
            json={
                "id": "ui-phone-task-with-a-rather-long-id",
                "cmd": "true",
                "cpus": 0.1,
                "mem": 16,
                "container": {"docker": {"image": "a"}},
            },
        )
        mesos_id = task.json()["mesos_id"]
    page = open_page(browser, live, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        views = {
            "#/tasks": "#tasks tr",
            f"#/tasks/{mesos_id}": "#task-facts dt",
            "#/queues": "#queues tr",
            "#/queues/new": "#source-settings input",
            "#/queues/ui-phone-queue-with-a-long-name/edit": "#source-settings input",
            "#/run": "#task-form input",
        }
        for hash_, shown in views.items():
            page.evaluate(f"location.hash = {hash_!r}")
            page.locator(shown).first.wait_for()
            if hash_ == "#/tasks":
                screenshot(page, "tasks-phone")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{hash_} is {width} px wide"
    finally:
        page.context.close()


def test_the_live_refresh_keeps_the_filters_the_scroll_and_the_focus(
    browser: Any, live: Live
) -> None:
    with live.api() as api:
        for n in range(12):
            body = {"id": f"ui-scroll-{n}", "cmd": "true", "cpus": 0.1, "mem": 16}
            body["container"] = {"docker": {"image": "alpine"}}
            assert api.post("/tasks/", json=body).status_code == 201

        def finished() -> int:
            page = api.get("/tasks/", params={"state": "TASK_FINISHED", "limit": 1000}).json()
            return sum(1 for t in page if t["id"].startswith("ui-scroll-"))

        # All ended before the page opens: a run finishing during the refreshes would be
        # a new row above the one scrolled to, and the browser's scroll anchoring would
        # (rightly) move scrollY to keep that row in view.
        wait_until(lambda: finished() == 12, 30, "the 12 runs to finish")
    page = open_page(browser, live, viewport={"width": 1000, "height": 300})
    try:
        page.get_by_label("Task id").focus()
        page.keyboard.type("ui-scroll-3")
        page.keyboard.press("Enter")
        page.locator("#tasks tr").first.wait_for()
        assert "id=ui-scroll-3" in page.url
        page.get_by_role("button", name="Clear").click()
        page.locator("#tasks tr", has_text="ui-scroll-0.").wait_for()
        page.get_by_label("State").select_option("TASK_FINISHED")
        page.locator("#tasks tr", has_text="ui-scroll-0.").wait_for()
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0
        link = page.locator("#tasks tr", has_text="ui-scroll-0.").get_by_role("link").first
        link.focus()

        for _ in range(2):  # two refreshes of the list
            with page.expect_response(lambda r: "/tasks/?" in r.url):
                pass

        assert page.evaluate("window.scrollY") == scrolled
        assert page.get_by_label("State").input_value() == "TASK_FINISHED"
        assert page.evaluate("document.activeElement.textContent").startswith("ui-scroll-0.")
        states = page.locator("#tasks [data-state]").all_text_contents()
        assert set(states) == {"TASK_FINISHED"}
    finally:
        page.context.close()


def test_a_tasks_output_grows_on_its_page_while_it_runs(
    page: Any, live: Live, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = f"echo before; echo trouble >&2; while [ ! -e {go} ]; do sleep 0.1; done; echo after"
    with live.api() as api:
        created = api.post(
            "/tasks/",
            json={
                "id": "ui-output",
                "cmd": script,
                "cpus": 0.1,
                "mem": 16,
                "container": {"docker": {"image": "alpine"}},
            },
        )
        assert created.status_code == 201, created.text
    page.evaluate(f"location.hash = '#/tasks/{created.json()['mesos_id']}'")
    stdout = page.locator("#output-stdout")
    stdout.get_by_text("before").wait_for()
    page.locator("#output-stderr").get_by_text("trouble").wait_for()
    assert "after" not in stdout.text_content()

    go.touch()

    page.locator("#task-state [data-state=TASK_FINISHED]").wait_for()
    stdout.get_by_text("after").wait_for()
    assert stdout.text_content() == "before\nafter\n"
    actions = page.locator(".title-row .actions").text_content()
    assert "Kill" not in actions and "null" not in actions
    screenshot(page, "task-output")


def test_a_task_is_run_again_and_deleted_from_its_page(page: Any, live: Live) -> None:
    with live.api() as api:
        body = {"id": "ui-again", "cmd": "echo again", "cpus": 0.1, "mem": 16}
        body["container"] = {"docker": {"image": "alpine"}}
        first = api.post("/tasks/", json=body).json()["mesos_id"]
    page.evaluate(f"location.hash = '#/tasks/{first}'")
    page.locator("#task-state [data-state=TASK_FINISHED]").wait_for()

    page.get_by_role("button", name="Run again").click()
    page.get_by_role("dialog").get_by_role("button", name="Run again").click()

    heading = page.get_by_role("heading", name=re.compile(r"^ui-again\."))
    page.wait_for_function(f"!location.hash.endsWith({first!r})")
    again = heading.text_content()
    assert again != first
    page.locator("#task-state [data-state=TASK_FINISHED]").wait_for()
    page.locator("#output-stdout").get_by_text("again").wait_for()

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()

    page.locator("#tasks").wait_for()
    with live.api() as api:
        assert api.get(f"/tasks/{again}/").status_code == 404
        assert api.get(f"/tasks/{first}/").status_code == 200
