"""Prometheus metrics of queue polling (default registry), labelled by queue type."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ITEMS_TAKEN = Counter(
    "hippo_poll_items_taken",
    "Distinct items taken from queue sources into tasks (repeats of stored ones excluded)",
    ["queue_type"],
)
TASKS_CREATED = Counter(
    "hippo_poll_tasks_created", "Tasks created from queue source items", ["queue_type"]
)
POLL_DURATION = Histogram(
    "hippo_poll_duration_seconds",
    "Duration of one poll of a queue, fetch to acknowledge",
    ["queue_type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
)
POLL_ERRORS = Counter(
    "hippo_poll_errors", "Polls that failed (source error, lost lease, store error)", ["queue_type"]
)
LAST_CLAIM = Gauge(
    "hippo_poll_last_claim_timestamp_seconds",
    "Unix time this worker last looked for due queues (its polling loop is alive)",
)
