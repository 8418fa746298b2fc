"""Every HIPPO_* setting, read in one place from an injectable mapping.

Tests pass a dict; processes pass os.environ. A bad value raises SettingsError
naming the variable, and the commands turn that into a one-line exit message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hippo.shared.errors import SettingsError
from hippo.shared.redis_urls import check_redis_url, is_sentinel_url
from hippo.shared.secrets import mask_url_password

# A development-only Fernet key, so `hippo dev` works out of the box. Anyone can
# read it here, so processes warn loudly when no HIPPO_SECRET_KEYS is set.
DEV_SECRET_KEY = "aGlwcG8tZGV2ZWxvcG1lbnQta2V5LW5vdC1zZWNyZXQ="


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"must be > 0, got {raw}")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"must be > 0, got {raw}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"must be >= 0, got {raw}")
    return value


def _replica_count(raw: str) -> int | None:
    """Empty: None (the default for the URL's kind); else a count of replicas, 0 or more."""
    return None if raw.strip() == "" else _non_negative_int(raw)


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _redis_prefix(raw: str) -> str:
    # Key patterns (SORT ... GET) give `*` a meaning; keep prefixes plain.
    if not raw or any(c in raw for c in "*?[] "):
        raise ValueError(f"must be non-empty, without spaces or * ? [ ], got {raw!r}")
    return raw


def _log_format(raw: str) -> str:
    if raw not in ("plain", "json"):
        raise ValueError(f"must be plain or json, got {raw!r}")
    return raw


def _setting(
    env: str,
    default: str,
    cast: Callable[[str], Any],
    doc: str,
    *,
    secret: bool = False,
    url: bool = False,
) -> Any:
    # Logging the settings must never show a secret: a secret setting stays out of
    # repr(), and a URL setting shows with its password masked (Settings.__repr__).
    return field(
        metadata={"env": env, "default": default, "cast": cast, "doc": doc, "url": url},
        repr=not secret,
    )


def _shown(value: Any) -> Any:
    """A URL setting's value as repr() shows it: one URL or a tuple of them, masked."""
    if isinstance(value, tuple):
        return tuple(mask_url_password(v) for v in value)
    return mask_url_password(value)


@dataclass(frozen=True)
class Settings:
    redis_url: str = _setting(
        "HIPPO_REDIS_URL",
        "redis://127.0.0.1:6379/0",
        check_redis_url,
        "Redis holding all of Hippo's state: `redis://`, `rediss://`, `unix://`, or Redis "
        "Sentinel as `redis+sentinel://[:password@]host1:26379,host2:26379/mymaster/0`.",
        url=True,
    )
    redis_prefix: str = _setting(
        "HIPPO_REDIS_PREFIX", "hippo:", _redis_prefix, "Prefix of every Redis key Hippo writes."
    )
    redis_wait_replicas: int | None = _setting(
        "HIPPO_REDIS_WAIT_REPLICAS",
        "",
        _replica_count,
        "How many Redis replicas a poll's stored tasks must reach (Redis `WAIT`) before its "
        "items are acknowledged to the source; a poll that falls short leaves them in the "
        "source, to come again. Unset: 1 with a Sentinel URL, 0 (no wait) otherwise.",
    )
    mesos_master: tuple[str, ...] = _setting(
        "HIPPO_MESOS_MASTER",
        "http://127.0.0.1:5050",
        _csv,
        "Mesos master URL(s), comma-separated; tried in order.",
        url=True,
    )
    secret_keys: tuple[str, ...] = _setting(
        "HIPPO_SECRET_KEYS",
        "",
        _csv,
        "Fernet keys encrypting source secrets at rest, comma-separated, newest first.",
        secret=True,
    )
    api_tokens: tuple[str, ...] = _setting(
        "HIPPO_API_TOKENS",
        "",
        _csv,
        "Bearer tokens of the API, comma-separated; prefix `read:` for read-only. Unset: open API.",
        secret=True,
    )
    queue_types: tuple[str, ...] = _setting(
        "HIPPO_QUEUE_TYPES", "", _csv, "Queue source types enabled (default: every installed one)."
    )
    task_retention_s: float = _setting(
        "HIPPO_TASK_RETENTION_S",
        "604800",
        _positive_float,
        "Finished task records older than this are deleted.",
    )
    task_retention_per_id: int = _setting(
        "HIPPO_TASK_RETENTION_PER_ID",
        "100",
        _positive_int,
        "Finished task records kept per task id (the newest).",
    )
    task_retention_per_queue: int = _setting(
        "HIPPO_TASK_RETENTION_PER_QUEUE",
        "10000",
        _positive_int,
        "Finished task records kept per queue (the newest): a queue's tasks share its id, "
        "so they are counted here instead of under HIPPO_TASK_RETENTION_PER_ID.",
    )
    idempotency_ttl_s: int = _setting(
        "HIPPO_IDEMPOTENCY_TTL_S",
        "86400",
        _positive_int,
        "How long an Idempotency-Key or a source item key is remembered.",
    )
    tasks_unpaged_max: int = _setting(
        "HIPPO_TASKS_UNPAGED_MAX",
        "10000",
        _positive_int,
        "GET /tasks/ without limit or cursor (the original Hippo's unpaged list) answers at "
        "most this many records, newest first; a Link header gives the rest.",
    )
    dedupe_one_off_tasks: bool = _setting(
        "HIPPO_DEDUPE_ONE_OFF_TASKS",
        "false",
        _bool,
        "true: a POST /tasks/ whose cmd and image match a one-off task still waiting, "
        "staging or running answers that task (200) instead of starting another, as the "
        "original Hippo did. Idempotency-Key is the recommended way.",
    )
    lock_expire_s: int = _setting(
        "HIPPO_LOCK_EXPIRE_S", "10", _positive_int, "Expiry of the worker leader lock."
    )
    queue_lease_s: int = _setting(
        "HIPPO_QUEUE_LEASE_S",
        "60",
        _positive_int,
        "Lease on a queue while a worker polls it (renewed as the poll runs; a dead "
        "worker's queues wait at most this long).",
    )
    poll_concurrency: int = _setting(
        "HIPPO_POLL_CONCURRENCY",
        "16",
        _positive_int,
        "Queues a worker polls at the same time (blocking source calls run in this many threads).",
    )
    poll_max_items: int = _setting(
        "HIPPO_POLL_MAX_ITEMS",
        "1000",
        _positive_int,
        "Items one poll takes at most; a queue whose poll was full is due again at once.",
    )
    max_item_bytes: int = _setting(
        "HIPPO_MAX_ITEM_BYTES",
        "96000",
        _positive_int,
        "Largest item (or batch) a task can carry, in UTF-8 bytes; a larger one becomes a "
        "dead letter of its queue instead of a task. The default keeps HIPPO_DATA_BASE64 "
        "within Linux's 128 KiB limit on one environment string.",
    )
    callback_timeout_s: float = _setting(
        "HIPPO_CALLBACK_TIMEOUT_S",
        "10",
        _positive_float,
        "How long one callback POST may take (connect and answer) before it counts as failed.",
    )
    callback_attempts: int = _setting(
        "HIPPO_CALLBACK_ATTEMPTS",
        "10",
        _positive_int,
        "Sends of one callback before it is given up (1 s between the first two, doubling "
        "up to 300 s).",
    )
    poll_retry_s: float = _setting(
        "HIPPO_POLL_RETRY_S",
        "1",
        _positive_float,
        "Delay before polling a failed queue again; doubles per failure up to its frequency.",
    )
    poll_idle_s: float = _setting(
        "HIPPO_POLL_IDLE_S",
        "1",
        _positive_float,
        "Longest wait between two looks for due queues (how soon a new queue is polled).",
    )
    failover_timeout_s: float = _setting(
        "HIPPO_FAILOVER_TIMEOUT_S",
        "604800",
        _positive_float,
        "Mesos framework failover_timeout: tasks survive a scheduler outage this long.",
    )
    mesos_silence_s: float = _setting(
        "HIPPO_MESOS_SILENCE_S",
        "120",
        _positive_float,
        "The leader steps down when no Mesos master has sent it anything for this long (a "
        "partition between it and Mesos; never less than two heartbeat intervals), and "
        "stands by again only this long after, so that a worker that reaches Mesos leads.",
    )
    metrics_port: int = _setting(
        "HIPPO_METRICS_PORT", "9090", _non_negative_int, "Worker /metrics port; 0 turns it off."
    )
    framework_name: str = _setting(
        "HIPPO_FRAMEWORK_NAME", "hippo", str, "Mesos framework name the worker leader registers."
    )
    mesos_user: str = _setting(
        "HIPPO_MESOS_USER", "root", str, "User the Mesos agents run Hippo's tasks as."
    )
    mesos_role: str = _setting(
        "HIPPO_MESOS_ROLE", "*", str, "Mesos role whose resources Hippo is offered."
    )
    mesos_principal: str = _setting(
        "HIPPO_MESOS_PRINCIPAL", "", str, "Mesos framework principal (for authentication)."
    )
    mesos_secret: str = _setting(
        "HIPPO_MESOS_SECRET",
        "",
        str,
        "Secret of the principal, sent as HTTP basic auth to the master.",
        secret=True,
    )
    mesos_ca_bundle: str = _setting(
        "HIPPO_MESOS_CA_BUNDLE",
        "",
        str,
        "CA bundle for https masters (masters without a scheme are then reached over https).",
    )
    offer_hold_s: float = _setting(
        "HIPPO_OFFER_HOLD_S",
        "2",
        _positive_float,
        "How long the leader keeps an offer it cannot use yet before declining it.",
    )
    decline_refuse_s: float = _setting(
        "HIPPO_DECLINE_REFUSE_S",
        "5",
        _positive_float,
        "Filter sent with declined offers: Mesos re-offers them after this (or at REVIVE).",
    )
    staging_timeout_s: float = _setting(
        "HIPPO_STAGING_TIMEOUT_S",
        "60",
        _positive_float,
        "A task staging longer than this is reconciled (Mesos not knowing it: lost, retried).",
    )
    unreachable_timeout_s: float = _setting(
        "HIPPO_UNREACHABLE_TIMEOUT_S",
        "900",
        _positive_float,
        "A task Mesos has not vouched for this long (TASK_UNREACHABLE, or reconciliation"
        " unanswered) gives up its slot: ended as TASK_LOST, retried, killed if it returns.",
    )
    reconcile_interval_s: float = _setting(
        "HIPPO_RECONCILE_INTERVAL_S",
        "900",
        _positive_float,
        "Period of the leader's implicit reconciliation with Mesos.",
    )
    trim_interval_s: float = _setting(
        "HIPPO_TRIM_INTERVAL_S",
        "60",
        _positive_float,
        "Period of the leader's deletion of task records past HIPPO_TASK_RETENTION_S.",
    )
    round_max_tasks: int = _setting(
        "HIPPO_ROUND_MAX_TASKS",
        "10000",
        _positive_int,
        "Waiting tasks one offer round looks at, at most (in creation order).",
    )
    log_level: str = _setting("HIPPO_LOG_LEVEL", "INFO", str.upper, "Log level.")
    log_format: str = _setting(
        "HIPPO_LOG_FORMAT", "plain", _log_format, "Log lines: plain or json."
    )
    api_access_log: bool = _setting(
        "HIPPO_API_ACCESS_LOG",
        "false",
        _bool,
        "true: `hippo api` logs a line per request at INFO (uvicorn's access log: client,"
        " method, path, status). Off by default: /metrics counts requests by route and"
        " status, and the line cost GET /healthz nearly half its req/s (docs/benchmarks.md).",
    )

    def __repr__(self) -> str:
        # Written here, not by @dataclass: its repr would show a URL's password.
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                shown.append(f"{f.name}={_shown(value) if f.metadata['url'] else value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            meta = f.metadata
            raw = env.get(meta["env"], meta["default"])
            try:
                values[f.name] = meta["cast"](raw.strip())
            except ValueError as e:
                raise SettingsError(f"{meta['env']}: {e}") from None
        settings = cls(**values)
        settings.cipher_keys  # noqa: B018 - validates the keys now, not at the first secret
        return settings

    @property
    def replicas_to_wait_for(self) -> int:
        """HIPPO_REDIS_WAIT_REPLICAS, or its default: with Sentinel the master has a
        replica that a failover promotes, and a write only the old master had is lost
        (docs/operating.md), so a poll waits for one; a standalone Redis has none to wait
        for."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if is_sentinel_url(self.redis_url) else 0

    @property
    def uses_dev_secret_key(self) -> bool:
        return not self.secret_keys

    @property
    def dev_secret_key_warning(self) -> str | None:
        """What every command that encrypts or decrypts source secrets says at start while
        HIPPO_SECRET_KEYS is unset; None when it is set."""
        if not self.uses_dev_secret_key:
            return None
        return (
            "HIPPO_SECRET_KEYS is not set: source secrets are encrypted with the public "
            "development key (anyone with the source code can read them); set your own "
            "keys before storing real secrets"
        )

    @property
    def cipher_keys(self) -> tuple[str, ...]:
        from hippo.shared.secrets import check_keys

        keys = self.secret_keys or (DEV_SECRET_KEY,)
        try:
            check_keys(keys)
        except ValueError as e:
            raise SettingsError(f"HIPPO_SECRET_KEYS: {e}") from None
        return keys


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of every setting, for the README and `--help`."""
    return [(f.metadata["env"], f.metadata["default"], f.metadata["doc"]) for f in fields(Settings)]
