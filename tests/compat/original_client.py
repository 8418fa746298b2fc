"""The original Hippo's client, as its web page and API spoke (SPEC.md, and the shapes of
the original's requests and answers written down in docs/migrating.md): what the
contract test plays against a live `hippo api`. Written by us; it builds requests the way
the original page did, including its quirks (blank form fields left out, number inputs
sent as integers, `"id": ""` for "generate one", a re-run posting back the record it
listed).
"""

from __future__ import annotations

from typing import Any

import httpx

JSON = {"Content-Type": "application/json"}


class OriginalClient:
    """One old client over HTTP. Every call asserts what the original answered: 200 and a
    JSON body (the original answered 200 to a create too)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def _json(self, response: httpx.Response) -> Any:
        assert response.status_code in (200, 201, 202), (response.status_code, response.text)
        return response.json()

    # --- tasks ---------------------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """The page's task table: GET /tasks/, every task, no paging."""
        return list(self._json(self.http.get("/tasks/")))

    def run_task(self, image: str, cmd: str, *, cpus: str = "0.1", mem: str = "32") -> str:
        """The page's "Run Task" form with the task prefix left blank; the original
        answered {"mesos_id": ...}."""
        body = {
            "container": {"docker": {"image": image}},
            "cpus": float(cpus),
            "mem": int(mem),
            "cmd": cmd,
            "env": {},
            "id": "",
        }
        return str(self._json(self.http.post("/tasks/", json=body))["mesos_id"])

    def rerun(self, record: dict[str, Any]) -> str:
        """The page's "Re-run": the listed record, less three fields, posted as a task."""
        body = {
            k: v for k, v in record.items() if k not in ("mesos_id", "mesos_state", "status_tstamp")
        }
        return str(self._json(self.http.post("/tasks/", json=body))["mesos_id"])

    def kill(self, mesos_id: str) -> None:
        self._json(self.http.get(f"/tasks/{mesos_id}/kill/"))

    # --- queues --------------------------------------------------------------------

    def queuetypes(self) -> list[dict[str, Any]]:
        return list(self._json(self.http.get("/queuetypes/")))

    def queues(self) -> list[dict[str, Any]]:
        return list(self._json(self.http.get("/queues/")))

    def queue_form(
        self,
        namespace: str,
        fields: dict[str, str],
        *,
        name: str,
        queue_id: str = "",
        current: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The body the page's queue form posts: its type's fields come from the
        /queuetypes/ entry whose `namespace` is the chosen type, one input per name in
        `inputs`. A field is typed in from `fields`, else shows the current queue's value
        (editing), else is blank; blank fields are left out, `number` inputs are sent as
        integers."""
        (qtype,) = [t for t in self.queuetypes() if t["namespace"] == namespace]
        shown = ((current or {}).get("queue") or {}).get(namespace) or {}
        settings: dict[str, Any] = {}
        for input_name, details in qtype["inputs"].items():
            value = fields.get(input_name)
            if value is None:
                value = str(shown[input_name]) if shown.get(input_name) else ""
            if value:
                settings[input_name] = int(value) if details["input"] == "number" else value
        block = {
            "name": name,
            "type": namespace,
            "max_concurrent": 5,
            "frequency_seconds": 60,
            "batch_size": 1,
            "batch_separator": "|",
            namespace: settings,
        }
        body: dict[str, Any] = {
            "container": {"docker": {"image": "busybox"}},
            "cpus": 0.1,
            "mem": 32,
            "cmd": "echo $HIPPO_DATA",
            "env": {},
            "id": "",
            "queue": block,
        }
        if queue_id:
            body["id"] = queue_id
        return body

    def save_queue(self, body: dict[str, Any], queue_id: str | None = None) -> str:
        """POST to /queues/ (new) or /queues/<id>/ (edit); the original answered the id."""
        url = f"/queues/{queue_id}/" if queue_id else "/queues/"
        return str(self._json(self.http.post(url, json=body))["id"])

    def enable(self, queue_id: str) -> None:
        self._json(self.http.get(f"/queues/{queue_id}/enable/"))

    def disable(self, queue_id: str) -> None:
        self._json(self.http.get(f"/queues/{queue_id}/disable/"))

    def delete_queue(self, queue_id: str) -> None:
        self._json(self.http.delete(f"/queues/{queue_id}/"))
