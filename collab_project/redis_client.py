"""One asyncio Redis client per event loop (redis.asyncio clients are bound to a loop)."""
import asyncio
import weakref

from django.conf import settings

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]" = weakref.WeakKeyDictionary()


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def get_redis():
    """The Redis client for the running loop; None on the embedded default."""
    if not settings.REDIS_URL:
        return None
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # No socket timeout: a quiet connection is not an error (redis-py 8's 5 s default was).
        # A blocking pool: in a connect storm or a watchdog tick of thousands of
        # sockets, a call waits (up to 5 s) for a free connection rather than
        # failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=5, health_check_interval=30,
            max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=5)
        client = aioredis.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


def key_prefix() -> str:
    """Namespace of this deployment's Redis keys (REDIS_KEY_PREFIX), ending in ':'."""
    return f"{settings.REDIS_KEY_PREFIX}:"
