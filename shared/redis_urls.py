"""The two forms of HIPPO_REDIS_URL, parsed without touching the network.

- One Redis: `redis://`, `rediss://` or `unix://`, as redis-py reads them.
- Redis Sentinel: `redis+sentinel://[[user]:password@]host1:26379[,host2:26379...]/service[/db]`.
  The sentinels are asked which server is the master of `service`; the user and password
  authenticate to that master (and its replicas), not to the sentinels, which are
  contacted without a password (decision: sentinels usually sit on the private network
  beside Redis, and one URL cannot carry two passwords without putting one where the
  log masker does not look). TLS to a sentinel deployment is not offered.

The store builds the clients (hippo.shared.store.connection); settings validate with
`check_redis_url`. Error messages never contain the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from hippo.shared.secrets import mask_url_password

SENTINEL_SCHEME = "redis+sentinel://"
SINGLE_SCHEMES = ("redis://", "rediss://", "unix://")
# Redis Sentinel's own default port (sentinel.conf, `port 26379`).
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """Where the sentinels are, which master they watch (`service`), and how to log in
    to it. `password` stays out of repr()."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME)


def _host_port(part: str, shown: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:26379
        host, _, rest = part[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif part.count(":") == 1:
        host, _, port_text = part.partition(":")
    else:
        host, port_text = part, ""
    if not host:
        raise ValueError(f"a sentinel address has no host in {shown!r}")
    if not port_text:
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"sentinel {host} has port {port_text!r}, not 1-65535, in {shown!r}")
    return host, int(port_text)


def parse_sentinel_url(url: str) -> SentinelURL:
    """`redis+sentinel://:pw@h1:26379,h2/mymaster/0` → SentinelURL. Raises ValueError
    naming what is wrong (with the password masked)."""
    shown = mask_url_password(url)
    if not is_sentinel_url(url):
        raise ValueError(f"must start with {SENTINEL_SCHEME}, got {shown!r}")
    rest = url[len(SENTINEL_SCHEME) :]
    if "?" in rest or "#" in rest:
        raise ValueError(f"takes no query string or fragment, got {shown!r}")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    if not hosts:
        raise ValueError(f"names no sentinel (host:port[,host:port...]) in {shown!r}")
    sentinels = tuple(_host_port(part.strip(), shown) for part in hosts.split(","))
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        raise ValueError(f"names no master (…/mymaster[/db]) after the sentinels in {shown!r}")
    if db_text and not db_text.isdigit():
        raise ValueError(f"has database {db_text!r}, not a number >= 0, in {shown!r}")
    return SentinelURL(sentinels, unquote(service), int(db_text or 0), username, password)


def check_redis_url(raw: str) -> str:
    """HIPPO_REDIS_URL's cast: either form, a sentinel URL parsed now so that a typo is
    reported at start, not at the first connection."""
    if is_sentinel_url(raw):
        parse_sentinel_url(raw)
        return raw
    if not raw.startswith(SINGLE_SCHEMES):
        raise ValueError(
            "must start with redis://, rediss://, unix:// or "
            f"{SENTINEL_SCHEME}, got {mask_url_password(raw)!r}"
        )
    return raw
