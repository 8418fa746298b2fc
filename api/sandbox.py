"""Reading a task's sandbox files (stdout, stderr) from Mesos, for
`GET /tasks/{mesos_id}/logs/{stdout|stderr}`.

Two ways, chosen by what the master's `GET /state` shows of the task:

- the dev master (its `/state` has `work_dir`, which a real master's has not) serves
  every task's files on its `/sandbox/<task id>/<file>` route, read here with an HTTP
  Range header;
- a real Mesos master lists the task with its `slave_id` and `executor_id` (empty for
  the command executor Hippo uses, whose executor id is the task id) and each agent with
  its `pid` (`slave(1)@10.0.0.5:5051`). The agent's `GET /state` lists each executor
  with its sandbox `directory`, and the agent's `GET /files/read?path=<directory>/stdout
  &offset=N&length=M` answers `{"data": ..., "offset": N}` (src/files/files.cpp; the
  agent attaches every executor directory for reading, src/slave/slave.cpp).

So the API must reach the masters (HIPPO_MESOS_MASTER) and, on a real cluster, every
agent's HTTP port (5051 by default). The pure parts (finding the task, the agent and
the directory in those JSON answers) are separate functions, tested without Mesos.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from hippo.shared.errors import MesosUnreachable, NotFound
from hippo.shared.settings import Settings

SANDBOX_FILES = ("stdout", "stderr")
MESOS_READ_TIMEOUT_S = 10.0  # one call to a master or an agent
_PID = re.compile(r"^[^@]+@(?P<host>[^:]+):(?P<port>\d+)$")


@dataclass(frozen=True)
class TaskPlace:
    """Where a task's sandbox is, as the master's state says."""

    framework_id: str
    executor_id: str
    agent_id: str


@dataclass(frozen=True)
class Chunk:
    data: bytes
    offset: int
    size: int | None  # the file's size when known


def _tasks(framework: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("tasks", "completed_tasks", "unreachable_tasks"):
        for task in framework.get(key) or []:
            if isinstance(task, Mapping):
                yield task


def find_task(state: Mapping[str, Any], mesos_id: str) -> TaskPlace | None:
    """The task in a master's `/state` (frameworks and completed frameworks)."""
    for key in ("frameworks", "completed_frameworks"):
        for framework in state.get(key) or []:
            for task in _tasks(framework):
                if task.get("id") != mesos_id:
                    continue
                return TaskPlace(
                    framework_id=str(task.get("framework_id") or framework.get("id") or ""),
                    executor_id=str(task.get("executor_id") or mesos_id),
                    agent_id=str(task.get("slave_id") or task.get("agent_id") or ""),
                )
    return None


def is_dev_master(state: Mapping[str, Any]) -> bool:
    """Whether a master's `/state` is the dev master's (it serves sandboxes itself)."""
    return "work_dir" in state and "simulate_s" in state


def agent_url(state: Mapping[str, Any], agent_id: str, scheme: str = "http") -> str | None:
    """The base URL of an agent from its `pid` in the master's `/state`."""
    for agent in state.get("slaves") or state.get("agents") or []:
        if agent.get("id") != agent_id:
            continue
        found = _PID.match(str(agent.get("pid") or ""))
        if found:
            return f"{scheme}://{found['host']}:{found['port']}"
    return None


def executor_directory(
    agent_state: Mapping[str, Any], framework_id: str, executor_id: str
) -> str | None:
    """The sandbox directory of an executor in an agent's `/state`."""
    for key in ("frameworks", "completed_frameworks"):
        for framework in agent_state.get(key) or []:
            if framework.get("id") != framework_id:
                continue
            for group in ("executors", "completed_executors"):
                for executor in framework.get(group) or []:
                    if executor.get("id") == executor_id and executor.get("directory"):
                        return str(executor["directory"])
    return None


class SandboxReader:
    """Reads sandbox files through the masters (and agents) it is given."""

    def __init__(
        self, masters: Sequence[str], http: httpx.AsyncClient, auth: httpx.Auth | None = None
    ) -> None:
        self.masters = [m.rstrip("/") for m in masters]
        self.http = http
        self.auth = auth

    async def _json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            response = await self.http.get(
                url, params=params, auth=self.auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.HTTPError as e:
            raise MesosUnreachable(f"{url}: {e!r}") from e
        if response.status_code == 404:
            raise NotFound(f"{url}: 404")
        if response.status_code != 200:
            raise MesosUnreachable(f"{url}: HTTP {response.status_code} {response.text[:200]}")
        try:
            return response.json()
        except ValueError as e:
            raise MesosUnreachable(f"{url}: not JSON") from e

    async def _locate(self, mesos_id: str) -> tuple[str, Mapping[str, Any], TaskPlace | None]:
        """(master URL, its state, the task's place: None from a dev master); the first
        master that knows the task."""
        errors = []
        for master in self.masters:
            try:
                state = await self._json(f"{master}/state")
            except (MesosUnreachable, NotFound) as e:
                errors.append(str(e))
                continue
            if is_dev_master(state):
                return master, state, None
            place = find_task(state, mesos_id)
            if place is not None:
                return master, state, place
        if errors and len(errors) == len(self.masters):
            raise MesosUnreachable("no Mesos master answered: " + "; ".join(errors))
        raise NotFound(f"Mesos no longer knows task {mesos_id}: its sandbox may have been removed")

    async def read(self, mesos_id: str, name: str, offset: int, length: int) -> Chunk:
        """`length` bytes of sandbox file `name` from `offset` (fewer at its end)."""
        master, state, place = await self._locate(mesos_id)
        if place is None:
            return await self._read_dev(master, mesos_id, name, offset, length)
        base = agent_url(state, place.agent_id, scheme=master.split("://", 1)[0])
        if base is None:
            raise NotFound(f"the master does not list agent {place.agent_id} of task {mesos_id}")
        directory = executor_directory(
            await self._json(f"{base}/state"), place.framework_id, place.executor_id
        )
        if directory is None:
            raise NotFound(f"agent {place.agent_id} has no sandbox for task {mesos_id}")
        path = f"{directory}/{name}"
        try:
            size_answer = await self._json(f"{base}/files/read", {"path": path, "offset": -1})
            answer = await self._json(
                f"{base}/files/read", {"path": path, "offset": offset, "length": length}
            )
        except NotFound:
            raise NotFound(f"no {name} in the sandbox of task {mesos_id}") from None
        # The agent sends the bytes as a JSON string: text, so UTF-8 gives them back.
        data = str(answer.get("data") or "").encode("utf-8", errors="surrogateescape")
        return Chunk(data, offset, int(size_answer.get("offset", 0)))

    async def _read_dev(
        self, master: str, mesos_id: str, name: str, offset: int, length: int
    ) -> Chunk:
        url = f"{master}/sandbox/{mesos_id}/{name}"
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        try:
            response = await self.http.get(url, headers=headers)
        except httpx.HTTPError as e:
            raise MesosUnreachable(f"{url}: {e!r}") from e
        if response.status_code == 404:
            raise NotFound(f"no {name} in the sandbox of task {mesos_id}")
        if response.status_code == 416:  # past the end: nothing new yet
            total = response.headers.get("content-range", "").rpartition("/")[2]
            return Chunk(b"", offset, int(total) if total.isdigit() else None)
        if response.status_code == 200:  # an empty file has no ranges
            return Chunk(response.content[offset : offset + length], offset, len(response.content))
        if response.status_code != 206:
            raise MesosUnreachable(f"{url}: HTTP {response.status_code}")
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return Chunk(response.content, offset, int(total) if total.isdigit() else None)


def mesos_http(settings: Settings) -> httpx.AsyncClient:
    """The API's client for masters and agents: HIPPO_MESOS_CA_BUNDLE for TLS, redirects
    followed (a master that does not lead points to the one that does)."""
    verify: bool | str = settings.mesos_ca_bundle or True
    return httpx.AsyncClient(timeout=MESOS_READ_TIMEOUT_S, verify=verify, follow_redirects=True)


def mesos_auth(settings: Settings) -> httpx.Auth | None:
    """HTTP basic auth with the framework's principal and secret, when both are set
    (masters and agents started with --authenticate_http_readonly ask for it)."""
    if settings.mesos_principal and settings.mesos_secret:
        return httpx.BasicAuth(settings.mesos_principal, settings.mesos_secret)
    return None
