"""The worker's Prometheus metrics, in a registry of their own (one per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # What the Mesos master last refused with an ERROR event (None once subscribed):
        # shown on /healthz as `mesos_error`.
        self.mesos_error: str | None = None
        r = self.registry
        self.leader = Gauge("hippo_worker_leader", "1 while this worker is the leader", registry=r)
        self.offers_received = Counter("hippo_offers_received", "Mesos offers received", registry=r)
        self.offers_declined = Counter("hippo_offers_declined", "Mesos offers declined", registry=r)
        self.tasks_launched = Counter(
            "hippo_tasks_launched", "Task runs sent to Mesos in ACCEPTs", registry=r
        )
        self.status_updates = Counter(
            "hippo_status_updates", "Mesos status updates stored", ["state"], registry=r
        )
        self.task_retries = Counter(
            "hippo_task_retries", "New runs made by retries", ["budget"], registry=r
        )
        self.kills_sent = Counter("hippo_kills_sent", "KILL calls sent to Mesos", registry=r)
        self.launch_latency = Histogram(
            "hippo_launch_latency_seconds",
            "Task creation to TASK_RUNNING",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.waiting_tasks = Gauge(
            "hippo_waiting_tasks", "Tasks waiting for offers (leader only)", registry=r
        )
        self.offer_round_seconds = Histogram(
            "hippo_offer_round_seconds",
            "Duration of one offer round",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
