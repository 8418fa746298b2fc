"""deploy/marathon/*.json: Marathon app definitions, checked field by field.

MARATHON_APP_FIELDS below is written for this test from the facts of Marathon's
published app definition (mesosphere/marathon, docs/docs/rest-api/public/api/v2:
schema/AppDefinition.json, and types/healthCheck.raml and types/network.raml for
MESOS_HTTP health checks and `networks`). It covers only the fields Hippo's apps use,
and refuses any other, so a typo or an unused field fails here rather than at deploy.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jsonschema
import pytest

from hippo.cli import build_parser
from hippo.shared.settings import settings_table
from tests.deploy.conftest import REPO

APPS = {path.stem: path for path in sorted((REPO / "deploy" / "marathon").glob("*.json"))}

_port = {"type": "integer", "minimum": 0, "maximum": 65535}
_seconds = {"type": "integer", "minimum": 0}
_fraction = {"type": "number", "minimum": 0, "maximum": 1}
_labels = {"type": "object", "additionalProperties": {"type": "string"}}
_port_name = {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": required or [],
    }


MARATHON_APP_FIELDS: dict[str, Any] = _closed(
    {
        # Names of lowercase letters, digits, dashes and dots, separated by slashes.
        "id": {
            "type": "string",
            "minLength": 1,
            "pattern": r"^(\/?((\.{2})|([a-z0-9][a-z0-9\-.]*[a-z0-9]+)|([a-z0-9]*))($|\/))+$",
        },
        "instances": {"type": "integer", "minimum": 0},
        "cpus": {"type": "number", "minimum": 0},
        "mem": {"type": "number", "minimum": 0},
        "disk": {"type": "number", "minimum": 0},
        "cmd": {"type": "string", "minLength": 1},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "container": _closed(
            {
                "type": {"enum": ["MESOS", "DOCKER"]},
                "docker": _closed(
                    {
                        "image": {"type": "string", "minLength": 1},
                        "forcePullImage": {"type": "boolean"},
                    },
                    ["image"],
                ),
            },
            ["type", "docker"],
        ),
        "networks": {
            "type": "array",
            "items": _closed({"mode": {"enum": ["container", "container/bridge", "host"]}}),
        },
        "portDefinitions": {
            "type": "array",
            "items": _closed(
                {
                    "port": _port,
                    "name": _port_name,
                    "protocol": {"enum": ["tcp", "udp", "udp,tcp"]},
                    "labels": _labels,
                }
            ),
        },
        "requirePorts": {"type": "boolean"},
        "healthChecks": {
            "type": "array",
            "items": _closed(
                {
                    "protocol": {
                        "enum": [
                            "HTTP",
                            "HTTPS",
                            "TCP",
                            "COMMAND",
                            "MESOS_TCP",
                            "MESOS_HTTP",
                            "MESOS_HTTPS",
                        ]
                    },
                    "path": {"type": "string"},
                    "portIndex": {"type": "integer", "minimum": 0},
                    "gracePeriodSeconds": _seconds,
                    "intervalSeconds": _seconds,
                    "timeoutSeconds": _seconds,
                    "maxConsecutiveFailures": _seconds,
                    "delaySeconds": _seconds,
                }
            ),
        },
        "readinessChecks": {
            "type": "array",
            "items": _closed(
                {
                    "name": {"type": "string"},
                    "protocol": {"enum": ["HTTP", "HTTPS"]},
                    "path": {"type": "string"},
                    "portName": {"type": "string"},
                    "intervalSeconds": _seconds,
                    "timeoutSeconds": _seconds,
                    "httpStatusCodesForReady": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 100, "maximum": 999},
                    },
                }
            ),
        },
        # [field, operator] or [field, operator, value].
        "constraints": {
            "type": "array",
            "items": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "string"}},
        },
        "labels": _labels,
        "upgradeStrategy": _closed(
            {"minimumHealthCapacity": _fraction, "maximumOverCapacity": _fraction}
        ),
        "backoffSeconds": _seconds,
        "backoffFactor": {"type": "number", "minimum": 1},
        "maxLaunchDelaySeconds": _seconds,
    },
    ["id"],
)
# Operators of Marathon constraints (the app definition's list, plus MAX_PER and IS of
# later versions).
CONSTRAINT_OPERATORS = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"}


def app(name: str) -> dict[str, Any]:
    return json.loads(APPS[name].read_text())  # type: ignore[no-any-return]


def test_both_apps_are_there() -> None:
    assert set(APPS) == {"hippo-api", "hippo-worker"}


@pytest.mark.parametrize("name", ["hippo-api", "hippo-worker"])
def test_app_uses_only_known_marathon_fields_with_valid_values(name: str) -> None:
    definition = app(name)
    jsonschema.Draft7Validator.check_schema(MARATHON_APP_FIELDS)
    jsonschema.Draft7Validator(MARATHON_APP_FIELDS).validate(definition)
    for constraint in definition.get("constraints", []):
        assert constraint[1] in CONSTRAINT_OPERATORS


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("instances", -1),
        ("cpus", "half"),
        ("healthChecks", [{"protocol": "MESOS_GRPC"}]),
        ("upgradeStrategy", {"minimumHealthCapacity": 1.5}),
        ("id", "/Hippo/API"),
        ("env", {"HIPPO_METRICS_PORT": 9090}),
        ("healthcheck", []),
        ("portDefinitions", [{"port": 0, "name": "HTTP"}]),
    ],
)
def test_the_field_list_refuses_what_marathon_would(change: str, value: Any) -> None:
    definition = {**app("hippo-api"), change: value}
    assert list(jsonschema.Draft7Validator(MARATHON_APP_FIELDS).iter_errors(definition))


@pytest.mark.parametrize("name", ["hippo-api", "hippo-worker"])
def test_env_names_only_real_hippo_settings(name: str) -> None:
    known = {variable for variable, _, _ in settings_table()}
    env = app(name)["env"]
    assert set(env) <= known
    assert "HIPPO_REDIS_URL" in env and "HIPPO_SECRET_KEYS" in env
    # Secrets are placeholders to fill in at deploy time, never real values in the repo.
    assert env["HIPPO_SECRET_KEYS"].startswith("REPLACE_ME")


@pytest.mark.parametrize(
    ("name", "subcommand", "port_flag"),
    [
        ("hippo-api", "api", "--port"),
        ("hippo-worker", "worker", "--metrics-port"),
    ],
)
def test_command_listens_on_the_health_checked_port(
    name: str, subcommand: str, port_flag: str
) -> None:
    definition = app(name)
    argv = shlex.split(definition["cmd"])
    assert argv[:2] == ["hippo", subcommand]
    assert argv[argv.index(port_flag) + 1] == "$PORT0"
    # The command line is one `hippo` accepts (Marathon's shell puts the port in $PORT0).
    args = build_parser().parse_args([a.replace("$PORT0", "31000") for a in argv[1:]])
    assert args.command == subcommand

    assert [m["mode"] for m in definition["networks"]] == ["host"]
    (port,) = definition["portDefinitions"]
    (check,) = definition["healthChecks"]
    assert (check["protocol"], check["path"], check["portIndex"]) == ("MESOS_HTTP", "/healthz", 0)
    assert port["port"] == 0, "a dynamic host port, handed to the command as $PORT0"


def test_api_is_behind_the_load_balancer_and_ready_when_redis_is() -> None:
    definition = app("hippo-api")
    labels = definition["labels"]
    assert labels["HAPROXY_GROUP"] == "external"
    assert re.fullmatch(r"[a-z0-9.-]+", labels["HAPROXY_0_VHOST"])
    (ready,) = definition["readinessChecks"]
    assert (ready["path"], ready["portName"]) == (
        "/readyz",
        definition["portDefinitions"][0]["name"],
    )
    assert definition["upgradeStrategy"]["minimumHealthCapacity"] == 1, "no downtime on upgrade"


def test_worker_keeps_a_standby_through_upgrades() -> None:
    definition = app("hippo-worker")
    assert definition["instances"] >= 2
    assert definition["upgradeStrategy"]["minimumHealthCapacity"] > 0
    assert "HIPPO_MESOS_MASTER" in definition["env"]
    assert "HAPROXY_GROUP" not in definition["labels"], "workers take no requests"
