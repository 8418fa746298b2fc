"""The REST API over HTTP: one small client, with httpx errors translated at this edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from hippo.shared.secrets import mask_url_password, mask_url_passwords_in

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """A failure the `hippo` client commands report in one line and exit with."""

    exit_code = 1


class Unreachable(ClientError):
    """No HTTP answer at all: refused, timed out, bad host."""

    exit_code = 2


class LocalInputError(ClientError):
    """A bad flag value or input file, found before anything is sent."""

    exit_code = 2


@dataclass
class ApiError(ClientError):
    """The server answered 4xx or 5xx; `field_errors` lists (field, message) pairs."""

    status_code: int
    message: str
    field_errors: list[tuple[str, str]]

    def __str__(self) -> str:
        return f"{self.status_code} {self.message}"


def _api_error(response: httpx.Response) -> ApiError:
    message = response.reason_phrase or "error"
    field_errors: list[tuple[str, str]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("error") or message)
        for item in body.get("errors") or []:
            if isinstance(item, dict):
                field_errors.append((str(item.get("field", "")), str(item.get("message", ""))))
    elif response.text.strip():
        message = response.text.strip().splitlines()[0][:200]
    return ApiError(response.status_code, message, field_errors)


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None


class HippoClient:
    """Calls the Hippo API; every method returns the decoded JSON or raises a ClientError."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        # Messages name the server; a URL that carries credentials is shown masked.
        self._shown_url = mask_url_password(self.url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HippoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.TransportError as e:
            reason = mask_url_passwords_in(str(e)) or type(e).__name__
            raise Unreachable(f"cannot reach Hippo at {self._shown_url}: {reason}") from e
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            # An answer that came but cannot be read (a bad content encoding), or a URL
            # httpx refuses: still one line and an exit code, never a traceback.
            reason = mask_url_passwords_in(str(e)) or type(e).__name__
            raise ClientError(f"{self._shown_url}{path}: {reason}") from e
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def _decoded(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError as e:
            raise ClientError(f"{self._shown_url}{path} did not answer JSON: is this Hippo?") from e

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decoded(self.request(method, path, **kwargs), path)

    # tasks

    def list_tasks(
        self,
        *,
        state: str | None = None,
        task_id: str | None = None,
        queue_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        params = {
            "state": state,
            "id": task_id,
            "queue_id": queue_id,
            "limit": limit,
            "cursor": cursor,
        }
        response = self.request(
            "GET", "/tasks/", params={k: v for k, v in params.items() if v is not None}
        )
        return Page(self._decoded(response, "/tasks/"), response.headers.get("X-Next-Cursor"))

    def get_task(self, mesos_id: str) -> dict[str, Any]:
        return self._json("GET", f"/tasks/{_segment(mesos_id)}/")  # type: ignore[no-any-return]

    def task_history(self, mesos_id: str) -> dict[str, Any]:
        return self._json("GET", f"/tasks/{_segment(mesos_id)}/history/")  # type: ignore[no-any-return]

    def create_task(
        self, body: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(record, created); created is False when the Idempotency-Key was seen before."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self.request("POST", "/tasks/", json=body, headers=headers)
        return self._decoded(response, "/tasks/"), response.status_code == 201

    def kill_task(self, mesos_id: str) -> tuple[dict[str, Any], bool]:
        """(record, killed_now): False when the leader has still to send the kill to Mesos."""
        path = f"/tasks/{_segment(mesos_id)}/kill/"
        response = self.request("POST", path)
        return self._decoded(response, path), response.status_code == 200

    def delete_task(self, mesos_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/tasks/{_segment(mesos_id)}/")  # type: ignore[no-any-return]

    def read_log(self, mesos_id: str, name: str, offset: int = 0) -> dict[str, Any]:
        """A piece of a task's stdout or stderr from `offset` (bytes): GET .../logs/NAME."""
        path = f"/tasks/{_segment(mesos_id)}/logs/{name}"
        return self._json("GET", path, params={"offset": offset})  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return self._json("GET", "/status/")  # type: ignore[no-any-return]

    # queues

    def list_queues(self) -> list[dict[str, Any]]:
        return self._json("GET", "/queues/")  # type: ignore[no-any-return]

    def get_queue(self, queue_id: str) -> dict[str, Any]:
        return self._json("GET", f"/queues/{_segment(queue_id)}/")  # type: ignore[no-any-return]

    def create_queue(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create only: an existing id is a 409, not replaced (If-None-Match: *)."""
        return self._json(  # type: ignore[no-any-return]
            "POST", "/queues/", json=body, headers={"If-None-Match": "*"}
        )

    def replace_queue(self, queue_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(  # type: ignore[no-any-return]
            "PUT", f"/queues/{_segment(queue_id)}/", json=body
        )

    def toggle_queue(self, queue_id: str) -> dict[str, Any]:
        return self._json(  # type: ignore[no-any-return]
            "POST", f"/queues/{_segment(queue_id)}/toggle/"
        )

    def delete_queue(self, queue_id: str) -> dict[str, Any]:
        return self._json(  # type: ignore[no-any-return]
            "DELETE", f"/queues/{_segment(queue_id)}/"
        )

    def list_queue_types(self) -> list[dict[str, Any]]:
        return self._json("GET", "/queuetypes/")  # type: ignore[no-any-return]

    # dead letters

    def list_dead_letters(
        self, queue_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        path = f"/queues/{_segment(queue_id)}/deadletters/"
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        response = self.request("GET", path, params=params)
        return Page(self._decoded(response, path), response.headers.get("X-Next-Cursor"))

    def get_dead_letter(self, queue_id: str, dead_letter_id: str) -> dict[str, Any]:
        return self._json(  # type: ignore[no-any-return]
            "GET", f"/queues/{_segment(queue_id)}/deadletters/{_segment(dead_letter_id)}/"
        )

    def rerun_dead_letters(self, queue_id: str, dead_letter_id: str | None) -> dict[str, Any]:
        """One (the new task record) or, with None, every one (what was run, what refused)."""
        one = f"{_segment(dead_letter_id)}/" if dead_letter_id else ""
        return self._json(  # type: ignore[no-any-return]
            "POST", f"/queues/{_segment(queue_id)}/deadletters/{one}rerun/"
        )

    def discard_dead_letters(self, queue_id: str, dead_letter_id: str | None) -> dict[str, Any]:
        one = f"{_segment(dead_letter_id)}/" if dead_letter_id else ""
        return self._json(  # type: ignore[no-any-return]
            "DELETE", f"/queues/{_segment(queue_id)}/deadletters/{one}"
        )
