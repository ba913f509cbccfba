"""Where the lab's databases really answer.

On AWS the RDS and ElastiCache endpoints come from describe calls. Locally (and when an
instructor passes overrides or a tunnel) they are bound to servers this machine reaches:
the binding maps a lab resource name to an address, so checks keep finding resources by
the lab's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote, urlparse

from . import naming
from .passwords import Secret


@dataclass(frozen=True)
class MysqlEndpoint:
    host: str
    port: int
    user: str
    password: Secret = field(repr=False)
    database: str = naming.DB_NAME

    def connect(self, **kwargs):
        import pymysql

        params = dict(
            host=self.host, port=self.port, user=self.user, password=str(self.password),
            database=self.database, charset="utf8mb4", connect_timeout=5, autocommit=True,
        )
        params.update(kwargs)
        return pymysql.connect(**params)

    def describe(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int
    password: Secret | None = field(default=None, repr=False)
    db: int = 0  # the lab's keys are in 0; a submission graded as code has one of its own

    def connect(self, **kwargs):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # redis-py retries a timed-out call 10 times with backoff by default: ~15 s per call
        # against a wedged server. One retry keeps a check's failure prompt.
        params = dict(host=self.host, port=self.port, password=self.password, db=self.db, decode_responses=True,
                      socket_timeout=5, socket_connect_timeout=5, retry=Retry(NoBackoff(), 1))
        params.update(kwargs)
        return redis.Redis(**params)

    def describe(self) -> str:
        return f"redis://{self.host}:{self.port}"


# Keys of DataPlane.redis
REDIS_PRIMARY = "primary"
REDIS_REPLICA = "replica"


@dataclass(frozen=True)
class DataPlane:
    """Bindings from lab names to reachable servers. Empty on AWS without overrides."""

    mysql: dict[str, MysqlEndpoint] = field(default_factory=dict)  # by DB instance identifier
    redis: dict[str, RedisEndpoint] = field(default_factory=dict)  # REDIS_PRIMARY / REDIS_REPLICA
    engine_note: str = ""  # e.g. "MariaDB 10.11 stands in for MySQL 8.0"

    def with_mysql(self, name: str, endpoint: MysqlEndpoint) -> "DataPlane":
        return replace(self, mysql={**self.mysql, name: endpoint})


def parse_mysql_url(url: str) -> MysqlEndpoint:
    """mysql://user:password@host:port/database"""
    parsed = urlparse(url)
    if parsed.scheme not in ("mysql", "mariadb") or not parsed.hostname or not parsed.username:
        raise ValueError(f"expected mysql://USER:PASSWORD@HOST:PORT/DATABASE, got {_redact(url)!r}")
    return MysqlEndpoint(
        host=parsed.hostname,
        port=parsed.port or naming.MYSQL_PORT,
        user=unquote(parsed.username),
        password=Secret(unquote(parsed.password or "")),
        database=(parsed.path or "/").lstrip("/") or naming.DB_NAME,
    )


def parse_redis_url(url: str) -> RedisEndpoint:
    """redis://[:password@]host:port"""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise ValueError(f"expected redis://HOST:PORT, got {_redact(url)!r}")
    password = Secret(unquote(parsed.password)) if parsed.password else None
    return RedisEndpoint(host=parsed.hostname, port=parsed.port or naming.REDIS_PORT, password=password)


def format_mysql_url(endpoint: MysqlEndpoint) -> Secret:
    """The inverse of parse_mysql_url, for an environment variable such as LAB_MYSQL_URL. It holds
    the password (quoted, so '@' or '/' in it survive): a Secret, never printed; describe() is what
    a log shows."""
    return Secret(f"mysql://{quote(endpoint.user, safe='')}:{quote(str(endpoint.password), safe='')}"
                  f"@{_netloc(endpoint.host, endpoint.port)}/{endpoint.database}")


def format_redis_url(endpoint: RedisEndpoint) -> Secret:
    """The inverse of parse_redis_url (with the password, when there is one: never printed)."""
    auth = f":{quote(str(endpoint.password), safe='')}@" if endpoint.password else ""
    return Secret(f"redis://{auth}{_netloc(endpoint.host, endpoint.port)}")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address takes brackets


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(parsed.password, "***")
    return url
