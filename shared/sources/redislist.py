"""A Redis list: each item becomes HIPPO_DATA."""

from hippo.shared.sources.base import Param, Source


def _check_port(value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"must be a TCP port (1-65535), got {value}")


def _check_db(value: int) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


class RedisListSource(Source):
    namespace = "redis"
    label = "Redis Queue"
    params = (
        Param("host", label="Redis host"),
        Param("port", type="int", default=6379, label="Redis port", check=_check_port),
        Param("db", type="int", default=0, label="Redis database number", check=_check_db),
        Param("name", label="Name of the list"),
        Param("password", default="", secret=True, label="Redis password"),
        Param("ssl", type="bool", default=False, label="Connect with TLS"),
    )
