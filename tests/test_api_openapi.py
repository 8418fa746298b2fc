"""/openapi.json says what the API does: every route with its methods, and for the
README's own requests, the status and body each one is answered with."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from hippo.api import schemas
from hippo.shared.records import ALL_STATES, TASK_RECORD_FIELDS, TASK_RECORD_TEMPLATE
from tests.examples import SPEC_QUEUE, SPEC_TASK

README = Path(__file__).parent.parent / "README.md"


def _spec(api: TestClient) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _validate(document: dict[str, Any], instance: Any, schema: dict[str, Any]) -> None:
    """`instance` against a schema of the document; its `#/components/...` refs resolve
    because the root the validator starts from carries the document's components."""
    root = {"components": document["components"], "allOf": [schema]}
    jsonschema.Draft202012Validator(root).validate(instance)


def _operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented path template matching `path`, and its operation for `method`."""
    for template, item in document["paths"].items():
        pattern = re.sub(r"\{[^/]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) or re.fullmatch(pattern, path + "/"):
            assert method.lower() in item, f"{method} {template} is not in /openapi.json"
            return template, item[method.lower()]
    raise AssertionError(f"{path} is not in /openapi.json")


def check_exchange(
    document: dict[str, Any],
    method: str,
    url: str,
    body: Any,
    response: httpx.Response,
) -> None:
    """The request is what the document says to send, and the answer is one it lists."""
    parts = urlsplit(url)
    template, operation = _operation(document, method, parts.path)
    where = f"{method} {url} ({template})"
    if body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        _validate(document, body, schema)
    params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, value in parse_qsl(parts.query):
        assert name in params, f"{where}: query parameter {name} is not documented"
        schema = params[name]["schema"]
        typed: Any = int(value) if schema.get("type") == "integer" else value
        _validate(document, typed, schema)
    status = str(response.status_code)
    assert status in operation["responses"], f"{where}: answered {status}, not documented"
    content = operation["responses"][status].get("content", {})
    if "application/json" in content:
        _validate(document, response.json(), content["application/json"]["schema"])
    else:
        media = response.headers.get("content-type", "").split(";")[0]
        assert list(content) in ([], [media]), f"{where}: answered {media}, not {list(content)}"


# README's requests: the curl lines of its "Five-minute tour" and "API" examples.


@dataclass
class Curl:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    comment: str = ""


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end != -1 else None]


def _split_comment(line: str) -> tuple[str, str]:
    """`curl ...  # what it answers` into the command and the comment, quotes respected."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1 :].strip()
    return line, ""


def _commands(block: str) -> list[tuple[list[str], str]]:
    """Shell commands of a code block as (words, trailing comment); a command continues
    over lines ending in a backslash and over lines inside a quoted string."""
    found = []
    pending = ""
    for line in block.splitlines():
        pending += line + "\n"
        if pending.rstrip().endswith("\\"):
            pending = pending.rstrip()[:-1] + " "
            continue
        code, comment = _split_comment(pending.strip())
        try:
            words = shlex.split(code)
        except ValueError:  # a quoted string goes on over the next line
            continue
        if words:
            found.append((words, comment))
        pending = ""
    return found


def readme_requests() -> list[Curl]:
    text = README.read_text()
    blocks = []
    for heading in ("## Five-minute tour", "### Examples"):
        section = _section(text, heading)
        blocks += [
            textwrap.dedent(b) for b in re.findall(r"```sh\n(.*?)^\s*```", section, re.S | re.M)
        ]
    variables: dict[str, str] = {}
    requests = []
    for block in blocks:
        for words, comment in _commands(block):
            if len(words) == 1 and re.fullmatch(r"\w+=.*", words[0], re.S):
                name, _, value = words[0].partition("=")
                variables[name] = value
                continue
            if words[0] != "curl":
                continue
            words = [
                variables.get(w[1:], w) if w.startswith("$") and w[1:].isidentifier() else w
                for w in words
            ]
            requests.append(_curl(words, comment))
    return requests


def _curl(words: list[str], comment: str) -> Curl:
    curl = Curl(method="", url="", comment=comment)
    rest = iter(words[1:])
    for word in rest:
        if word == "-s":
            continue
        if word.startswith("-X"):
            curl.method = word[2:] or next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            curl.headers[name.strip()] = value.strip()
        elif word == "-d":
            curl.body = json.loads(next(rest))
        elif word.startswith("-"):
            raise AssertionError(f"README curl flag this test does not read: {word}")
        else:
            curl.url = word.removeprefix("http://").split("/", 1)[1]
            curl.url = "/" + curl.url
    curl.method = curl.method or ("POST" if curl.body is not None else "GET")
    return curl


def _contains(document: Any, expected: dict[str, Any]) -> bool:
    """`expected`'s keys with their values somewhere in `document`."""
    if isinstance(document, dict):
        if all(document.get(k, object()) == v for k, v in expected.items()):
            return True
        return any(_contains(v, expected) for v in document.values())
    if isinstance(document, list):
        return any(_contains(v, expected) for v in document)
    return False


def test_every_curl_line_of_the_readme_sections_is_read() -> None:
    # Guards the parser: a request it missed would go unchecked.
    text = README.read_text()
    sections = _section(text, "## Five-minute tour") + _section(text, "### Examples")
    written = len(re.findall(r"^\s*curl ", sections, re.M))
    requests = readme_requests()
    assert len(requests) == written > 0
    assert {("POST", "/tasks/"), ("POST", "/queues/")} <= {(r.method, r.url) for r in requests}


def test_every_readme_request_is_answered_as_documented(api: TestClient) -> None:
    document = _spec(api)
    runs: dict[str, str] = {}  # task id -> the mesos_id of its latest run
    for curl in readme_requests():
        url = re.sub(r"([\w-]+)\.<uuid>", lambda m: runs[m.group(1)], curl.url)
        # The body as curl sends it: only the README's own headers, no Content-Type added.
        content = None if curl.body is None else json.dumps(curl.body).encode()
        response = api.request(curl.method, url, headers=curl.headers, content=content)
        assert response.status_code < 400, f"{curl.method} {url}: {response.text}"
        check_exchange(document, curl.method, url, curl.body, response)
        answer = response.json()
        if isinstance(answer, dict) and "mesos_id" in answer:
            runs[answer["id"]] = answer["mesos_id"]
        # Where the README says what comes back, it does.
        if curl.comment.startswith("{"):
            assert answer == json.loads(curl.comment)
        elif curl.comment.startswith('"'):
            assert _contains(answer, json.loads("{" + curl.comment + "}")), curl.comment


def test_spec_examples_and_their_records_are_documented(api: TestClient) -> None:
    """SPEC.md's bodies (constraints, volumes, a queue's poll fields) both ways."""
    document = _spec(api)
    exchanges: list[tuple[str, str, Any]] = [
        ("POST", "/queues/", {**SPEC_QUEUE, "id": "spec"}),
        ("PUT", "/queues/spec/", {**SPEC_QUEUE, "id": "spec"}),
        ("GET", "/queues/", None),
        ("POST", "/queues/spec/disable/", None),
        ("POST", "/tasks/", SPEC_TASK),
        ("GET", "/tasks/?state=WAITING_ON_OFFERS&limit=1", None),
        ("GET", "/queuetypes/", None),
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/metrics", None),
        ("GET", "/ui/", None),
        ("GET", "/openapi.json", None),
    ]
    for method, url, body in exchanges:
        response = api.request(method, url, json=body)
        assert response.status_code < 400, f"{method} {url}: {response.text}"
        check_exchange(document, method, url, body, response)
    mesos_id = api.get("/tasks/").json()[0]["mesos_id"]
    for method, url in (("GET", f"/tasks/{mesos_id}/"), ("GET", f"/tasks/{mesos_id}/kill/")):
        check_exchange(document, method, url, None, api.request(method, url))
    root = api.get("/", follow_redirects=False)
    check_exchange(document, "GET", "/", None, root)


def test_errors_are_documented(api: TestClient) -> None:
    document = _spec(api)
    for method, url, body in (
        ("POST", "/tasks/", {"cpus": -1}),
        ("GET", "/tasks/?state=RUNNING", None),
        ("GET", "/queues/nosuch/", None),
        ("POST", "/tasks/nosuch.1/kill/", None),
    ):
        response = api.request(method, url, json=body)
        assert 400 <= response.status_code < 500
        _, operation = _operation(document, method, url.split("?")[0])
        _validate(
            document,
            response.json(),
            operation["responses"]["4XX"]["content"]["application/json"]["schema"],
        )


def test_a_queue_body_of_an_unknown_shape_is_refused_by_the_spec_too(api: TestClient) -> None:
    document = _spec(api)
    schema = {"$ref": "#/components/schemas/QueueDefinition"}
    body = {**SPEC_QUEUE, "queue": {**SPEC_QUEUE["queue"], "sqs": {"bogus": 1}}}
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, body, schema)
    assert api.post("/queues/", json=body).status_code == 422
    typo = {**SPEC_QUEUE, "queue": {**SPEC_QUEUE["queue"], "frequency_secs": 5}}
    with pytest.raises(jsonschema.ValidationError):
        _validate(document, typo, schema)
    assert api.post("/queues/", json=typo).status_code == 422


# The route table and the document: the same paths and methods, both ways.


def test_every_route_is_documented_with_its_methods(api: TestClient) -> None:
    paths = _spec(api)["paths"]
    for route in api.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        # `/queues` is documented as `/queues/`: every route answers without the slash.
        documented = route.path if route.path in paths else route.path + "/"
        assert documented in paths, f"{route.path} is not in /openapi.json"
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in paths[documented], f"{method} {route.path} is not documented"


def test_every_documented_operation_is_routed(api: TestClient) -> None:
    routes = api.app.routes  # type: ignore[attr-defined]
    for path, item in _spec(api)["paths"].items():
        concrete = re.sub(r"\{[^/]+\}", "x.1", path)
        variants = {concrete, concrete.rstrip("/") or "/"}
        for method in (m.upper() for m in item if m != "parameters"):
            for variant in variants:
                scope = {"type": "http", "path": variant, "method": method}
                assert any(r.matches(scope)[0] is Match.FULL for r in routes), (
                    f"{method} {variant} is documented but not routed"
                )


def test_the_issues_of_the_hand_written_spec_stay_fixed(api: TestClient) -> None:
    document = _spec(api)
    paths = document["paths"]
    for action in ("toggle", "enable", "disable"):
        assert set(paths[f"/queues/{{queue_id}}/{action}/"]) >= {"get", "post"}
    assert "201" in paths["/tasks/"]["post"]["responses"]
    assert "201" in paths["/queues/"]["post"]["responses"]
    assert {"200", "202"} <= set(paths["/tasks/{mesos_id}/kill/"]["post"]["responses"])
    assert "/metrics" in paths and "/ui/" in paths
    state = next(p for p in paths["/tasks/"]["get"]["parameters"] if p["name"] == "state")
    schemas = document["components"]["schemas"]
    assert schemas[state["schema"]["$ref"].rsplit("/", 1)[1]]["enum"] == sorted(ALL_STATES)
    record = schemas["TaskRecord"]
    assert set(TASK_RECORD_FIELDS) <= set(record["required"])
    assert all(record["properties"][name] for name in TASK_RECORD_FIELDS)  # typed, not {}


def test_a_record_field_without_a_schema_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        schemas, "TASK_RECORD_TEMPLATE", {**TASK_RECORD_TEMPLATE, "exit_code": None}
    )
    with pytest.raises(RuntimeError, match="exit_code"):
        schemas._record_fields()
