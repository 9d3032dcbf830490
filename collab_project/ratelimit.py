"""Per-user limits shared by every worker: Redis when REDIS_URL is set,
in-process dictionaries on the embedded default (one process).

The limits protect the service; they are not worth refusing sockets over. When
Redis fails a call (down, restarting, a stale pooled connection), the check
passes and a warning is logged: fail open.
"""
import logging
import time
from functools import wraps

from redis.exceptions import RedisError

from collab_project.redis_client import get_redis, key_prefix

logger = logging.getLogger("collab.ratelimit")

_windows: dict[str, tuple[int, int]] = {}
_sockets: dict[str, dict[str, float]] = {}


def _fail_open(default):
    def wrap(func):
        @wraps(func)
        async def checked(*args, **kwargs):
            try:
                return await func(*args, **kwargs)
            except (RedisError, OSError):
                logger.warning("limit check failed, letting it pass", exc_info=True,
                               extra={"check": func.__qualname__})
                return default
        return checked
    return wrap


def reset_local() -> None:
    """Forget the in-process counters (tests)."""
    _windows.clear()
    _sockets.clear()


@_fail_open(True)
async def hit(key: str, limit: int, window: int = 60) -> bool:
    """Count one hit in the current fixed window; False once over `limit`."""
    bucket = int(time.time() // window)
    redis = get_redis()
    if redis is not None:
        name = f"{key_prefix()}rl:{key}:{bucket}"
        async with redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(name).expire(name, window * 2).execute()
        return count <= limit
    current_bucket, count = _windows.get(key, (bucket, 0))
    count = count + 1 if current_bucket == bucket else 1
    _windows[key] = (bucket, count)
    return count <= limit


class SocketRegistry:
    """Open sockets per user, each entry expiring unless refreshed, so a
    killed worker's sockets stop counting after `ttl` seconds."""

    def __init__(self, ttl: int):
        self.ttl = ttl

    @_fail_open(True)
    async def add(self, key: str, conn: str, limit: int) -> bool:
        """Register `conn` under `key` if fewer than `limit` live ones are there."""
        now = time.time()
        redis = get_redis()
        if redis is not None:
            name = f"{key_prefix()}sockets:{key}"
            async with redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(name, "-inf", now)
                pipe.zadd(name, {conn: now + self.ttl})
                pipe.zcard(name)
                pipe.expire(name, self.ttl * 2)
                _, _, count, _ = await pipe.execute()
            if count > limit:
                await redis.zrem(name, conn)
                return False
            return True
        entries = {c: exp for c, exp in _sockets.get(key, {}).items() if exp > now}
        if len(entries) >= limit:
            _sockets[key] = entries
            return False
        entries[conn] = now + self.ttl
        _sockets[key] = entries
        return True

    @_fail_open(None)
    async def refresh(self, key: str, conn: str) -> None:
        redis = get_redis()
        if redis is not None:
            await redis.zadd(f"{key_prefix()}sockets:{key}", {conn: time.time() + self.ttl}, xx=True)
        elif conn in _sockets.get(key, {}):
            _sockets[key][conn] = time.time() + self.ttl

    @_fail_open(None)
    async def refresh_many(self, entries: list[tuple[str, str]]) -> None:
        """`refresh` for many (key, conn) at once: one round trip."""
        if not entries:
            return
        redis = get_redis()
        if redis is None:
            for key, conn in entries:
                await self.refresh(key, conn)
            return
        expires = time.time() + self.ttl
        async with redis.pipeline(transaction=False) as pipe:
            for key, conn in entries:
                pipe.zadd(f"{key_prefix()}sockets:{key}", {conn: expires}, xx=True)
            await pipe.execute()

    @_fail_open(None)
    async def remove(self, key: str, conn: str) -> None:
        redis = get_redis()
        if redis is not None:
            await redis.zrem(f"{key_prefix()}sockets:{key}", conn)
        else:
            _sockets.get(key, {}).pop(conn, None)
