"""docs/metrics.md lists every metric Hippo exports; the Grafana dashboard uses only those."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "metrics.md").read_text()


def _documented() -> set[str]:
    return set(re.findall(r"^\| `(hippo_[a-z_]+)` \|", DOC, re.MULTILINE))


def _exported() -> set[str]:
    import hippo.api.metrics
    import hippo.worker.polling_metrics  # noqa: F401 - registers the polling metrics
    from hippo.worker.metrics import WorkerMetrics

    names = set()
    for registry in (REGISTRY, WorkerMetrics().registry):
        for family in registry.collect():
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return {name for name in names if name.startswith("hippo_")}


def test_every_exported_metric_is_documented_and_no_other() -> None:
    assert _exported() == _documented()


def test_dashboard_queries_only_documented_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "hippo.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= {
                re.sub(r"_bucket$", "", name)
                for name in re.findall(r"hippo_[a-z_]+", target["expr"])
            }
    assert used
    assert used <= _documented()
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("launches", "states", "lag", "poll errors", "leader"):
        assert topic in titles
