"""The one way Scorecast connects to Redis, and the one place redis-py's errors become ours."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from core.errors import StoreUnavailableError
from core.settings import RedisSettings

P = ParamSpec("P")
T = TypeVar("T")


def redis_client(settings: RedisSettings) -> Redis:
    """A client whose every command and connect gives up after ``redis_timeout``.

    With ``redis_cluster`` it is a cluster client: it speaks the same commands (typed as the
    plain client's, which is what every caller uses of it), sends each to the node holding its
    slot, follows MOVED and ASK redirections and finds a promoted replica after a failover."""
    if settings.redis_cluster:
        cluster = RedisCluster.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            max_connections=settings.redis_max_connections,
        )
        return cast(Redis, cluster)
    # A blocking pool: past its size a command waits for a connection (redis-py's default
    # pool fails it at once, which a burst of connects turned into 503s).
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
    )
    return Redis.from_pool(pool)


def translated(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Re-raise redis-py's errors from ``call`` as :class:`StoreUnavailableError`."""

    @functools.wraps(call)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except RedisError as exc:
            raise StoreUnavailableError(f"redis: {type(exc).__name__}: {exc}") from exc

    return wrapper


@translated
async def ping(redis: Redis) -> None:
    """Check that Redis answers (a service's start: fail there, not in its first request)."""
    await redis.ping()


@translated
async def memory(redis: Redis) -> tuple[int, int]:
    """Bytes Redis uses and its ``maxmemory`` (0: no limit); on a cluster, of its fullest
    master (the one that fails writes first)."""
    if isinstance(redis, RedisCluster):
        nodes = await redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
        infos = list(nodes.values())
    else:
        infos = [await redis.info("memory")]

    def fullness(info: dict[str, int]) -> float:
        limit = int(info.get("maxmemory", 0))
        return int(info.get("used_memory", 0)) / limit if limit else 0.0

    fullest = max(infos, key=fullness)
    return int(fullest.get("used_memory", 0)), int(fullest.get("maxmemory", 0))
