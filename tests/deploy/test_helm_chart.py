"""charts/hippo, without helm: values against the schema, templates' YAML, value references.

No helm binary can be installed here, so the chart is never rendered: see
charts/hippo/README.md for what these tests do and do not cover.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hippo.shared.settings import settings_table
from tests.deploy.conftest import REPO
from tests.deploy.gotemplate import (
    PLACEHOLDER,
    TemplateShapeError,
    strip_actions,
    unbalanced_blocks,
)

CHART = REPO / "charts" / "hippo"
TEMPLATES = sorted((CHART / "templates").glob("*.yaml"))
ALL_TEMPLATE_FILES = sorted((CHART / "templates").iterdir())
VALUE_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())  # type: ignore[no-any-return]


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def documents(path: Path) -> list[dict[str, Any]]:
    return [
        doc
        for doc in yaml.safe_load_all(strip_actions(path.read_text(), path.name))
        if doc is not None
    ]


def manifest(kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [
        doc
        for path in TEMPLATES
        for doc in documents(path)
        if doc["kind"] == kind and doc["metadata"]["name"].endswith(name_suffix)
    ]
    assert len(found) == 1, f"{kind} *{name_suffix}: {len(found)} found"
    return found[0]


def with_change(path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(values())
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "hippo"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def test_default_values_satisfy_the_schema() -> None:
    validator().validate(values())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("api.replicas", "two"),
        ("worker.replicas", -1),
        ("api.port", 70000),
        ("api.image.pullPolicy", "Sometimes"),
        ("api.service.type", "ExternalName"),
        ("replicaCount", 3),
        ("secret.redisUrl", "http://redis:6379"),
        ("config.HIPPO_REDIS_URL", "redis://elsewhere:6379/0"),
        ("config.LOG_LEVEL", "DEBUG"),
        ("metrics.serviceMonitor.interval", "soon"),
        ("worker.podDisruptionBudget.maxUnavailable", "half"),
        ("api.autoscaling.targetCPUUtilizationPercentage", 150),
        ("worker.metricsPort", "9090"),
    ],
)
def test_schema_refuses_bad_values(path: str, value: Any) -> None:
    errors = list(validator().iter_errors(with_change(path, value)))
    assert errors, f"{path}={value!r} was accepted"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("secret.existingSecret", "hippo-prod"),
        ("worker.podDisruptionBudget.maxUnavailable", "50%"),
        (
            "api.ingress",
            {
                "enabled": True,
                "className": "nginx",
                "annotations": {},
                "host": "hippo.corp",
                "tlsSecretName": "hippo-tls",
            },
        ),
        ("extraEnv", [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]),
        ("config.HIPPO_QUEUE_LEASE_S", "120"),
    ],
)
def test_schema_accepts_good_changes(path: str, value: Any) -> None:
    validator().validate(with_change(path, value))


def test_config_names_only_real_hippo_settings() -> None:
    known = {variable for variable, _, _ in settings_table()}
    assert set(values()["config"]) <= known


@pytest.mark.parametrize("path", ALL_TEMPLATE_FILES, ids=lambda p: p.name)
def test_template_blocks_are_balanced(path: Path) -> None:
    assert unbalanced_blocks(path.read_text()) == 0


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_parses_as_kubernetes_yaml_once_actions_are_stripped(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path.name} holds no manifest"
    for doc in docs:
        assert isinstance(doc, dict)
        assert {"apiVersion", "kind", "metadata"} <= set(doc)
        assert doc["metadata"]["name"]


def test_the_chart_makes_every_object_the_issue_asks_for() -> None:
    kinds = sorted(doc["kind"] for path in TEMPLATES for doc in documents(path))
    assert kinds == sorted(
        [
            "Deployment",
            "Deployment",
            "Service",
            "Service",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Secret",
            "ServiceMonitor",
        ]
    )


def test_every_value_used_in_templates_exists_in_values_yaml() -> None:
    defaults = values()
    missing = []
    for path in ALL_TEMPLATE_FILES:
        for ref in VALUE_REF.findall(path.read_text()):
            node: Any = defaults
            for key in ref.strip(".").split("."):
                if not isinstance(node, dict) or key not in node:
                    missing.append(f"{path.name}: .Values{ref}")
                    break
                node = node[key]
    assert missing == []


def test_every_value_in_values_yaml_is_used_by_a_template() -> None:
    used = {
        ref.strip(".") for path in ALL_TEMPLATE_FILES for ref in VALUE_REF.findall(path.read_text())
    }

    def leaves(node: Any, prefix: str) -> list[str]:
        if isinstance(node, dict) and node:
            return [
                leaf
                for key, value in node.items()
                for leaf in leaves(value, f"{prefix}.{key}" if prefix else key)
            ]
        return [prefix]

    unused = [
        leaf
        for leaf in leaves(values(), "")
        if not any(leaf == ref or leaf.startswith(ref + ".") for ref in used)
    ]
    assert unused == []


def test_stripper_refuses_shapes_it_cannot_handle() -> None:
    with pytest.raises(TemplateShapeError):
        strip_actions("a: {{- if .X }}b{{ end }}\n")
    with pytest.raises(TemplateShapeError):
        strip_actions("a: {{ .X\n }}\n")
    assert (
        strip_actions(
            '{{/* note\n over lines */}}\nname: {{ .Y }}-api\n  {{- include "l" . | nindent 4 }}\n'
        )
        == f"\nname: {PLACEHOLDER}-api\n"
    )
    assert unbalanced_blocks("{{ if .A }}{{ range .B }}{{ end }}") == 1


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def test_api_probes_live_on_healthz_and_ready_on_readyz() -> None:
    api = container(manifest("Deployment", "-api"))
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert [p["name"] for p in api["ports"]] == ["http"]
    assert api["args"][:2] == ["hippo", "api"]


def test_worker_probes_use_healthz_on_the_metrics_port() -> None:
    worker = container(manifest("Deployment", "-worker"))
    for probe in ("livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["args"][:3] == ["hippo", "worker", "--metrics-port"]


def test_pods_carry_prometheus_scrape_annotations_and_run_as_non_root() -> None:
    for suffix in ("-api", "-worker"):
        pod = manifest("Deployment", suffix)["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert "resources" in container(manifest("Deployment", suffix))
    assert values()["podSecurityContext"]["runAsNonRoot"] is True


def test_secret_holds_the_three_secret_settings() -> None:
    secret = manifest("Secret")
    assert set(secret["stringData"]) == {"HIPPO_SECRET_KEYS", "HIPPO_API_TOKENS", "HIPPO_REDIS_URL"}
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert "secretRef" in helpers and ".Values.secret.existingSecret" in helpers


def test_service_monitor_scrapes_both_services_ports() -> None:
    ports = {e["port"] for e in manifest("ServiceMonitor")["spec"]["endpoints"]}
    service_ports = {
        p["name"]
        for path in TEMPLATES
        for doc in documents(path)
        if doc["kind"] == "Service"
        for p in doc["spec"]["ports"]
    }
    assert ports == service_ports == {"http", "metrics"}
