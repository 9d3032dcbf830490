"""What running it in production needs from inside the app: /healthz,
/readyz and /metrics, request metrics, a cache that fails open, and the
context every log line should carry.

None of these views authenticate or throttle: load balancers and Prometheus
call them, and a throttled health check would take a healthy worker out.
"""
import asyncio
import ipaddress
import logging
import re
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.http import HttpResponse, JsonResponse

from collab_project import metrics

logger = logging.getLogger("collab.ops")

OPS_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


# -- /healthz and /readyz --------------------------------------------------------
async def healthz(request):
    """The process is alive and its event loop answers."""
    return JsonResponse({"status": "ok"})


def _db_ping() -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        from collab_project.dbpool import pool_suspect

        pool_suspect()
        raise
    finally:
        # Back to the pool (or closed): the check must not hold a connection.
        connection.close()


_db_check: asyncio.Future | None = None


async def _check_database() -> None:
    """Ping the database from a worker thread; concurrent probes share one
    ping, so a hanging database cannot pile up threads."""
    global _db_check
    if _db_check is None or _db_check.done() or _db_check.get_loop() is not asyncio.get_running_loop():
        _db_check = asyncio.ensure_future(sync_to_async(_db_ping, thread_sensitive=False)())
    await asyncio.shield(_db_check)


async def _check_redis() -> None:
    from collab_project.redis_client import get_redis

    client = get_redis()
    if client is not None:
        await client.ping()


async def _run_check(name: str, check, timeout: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout)
        return "ok"
    except asyncio.TimeoutError:
        logger.warning("readiness check timed out", extra={"check": name, "timeout": timeout})
        return "timeout"
    except Exception as exc:
        logger.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
        return "unreachable"


async def dependency_status(timeout: float | None = None) -> dict[str, str]:
    timeout = settings.READY_CHECK_TIMEOUT if timeout is None else timeout
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    results = await asyncio.gather(*(_run_check(name, check, timeout) for name, check in checks.items()))
    return dict(zip(checks, results))


async def readyz(request):
    """200 when the database and Redis answer; 503 naming what failed."""
    checks = await dependency_status()
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed, "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


# -- /metrics ------------------------------------------------------------------------
def client_allowed(address: str | None) -> bool:
    """Loopback, or inside one of METRICS_ALLOWED_NETS."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback):
        return True
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in allowed_networks())


_networks_cache: tuple[tuple, list] = ((), [])


def allowed_networks() -> list:
    global _networks_cache
    raw = tuple(settings.METRICS_ALLOWED_NETS)
    if _networks_cache[0] != raw:
        nets = []
        for item in raw:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                logger.error("METRICS_ALLOWED_NETS entry ignored", extra={"entry": item})
        _networks_cache = (raw, nets)
    return _networks_cache[1]


def _exposition(dependencies: dict[str, str]) -> bytes:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest
    from prometheus_client import REGISTRY

    if metrics.MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    # Dependency state is measured now, by whichever worker answers; it lives
    # in a throwaway registry because it is not a per-process sample.
    live = CollectorRegistry()
    up = Gauge(f"{metrics.PREFIX}_dependency_up", "1 when the dependency answered this scrape.",
               ["dependency"], registry=live)
    for name, result in dependencies.items():
        up.labels(dependency=name).set(1 if result == "ok" else 0)
    return body + generate_latest(live)


PROXIED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


async def metrics_view(request):
    # Prometheus scrapes each host directly; a request that passed a proxy
    # (whose own address may be loopback) or claims to have is refused, so
    # neither the load balancer nor a forged X-Forwarded-For opens /metrics.
    proxied = any(request.META.get(header) for header in PROXIED)
    if proxied or not client_allowed(request.META.get("REMOTE_ADDR")):
        return JsonResponse({"code": "forbidden", "detail": "Metrics are not served to this address."},
                            status=403)
    from prometheus_client import CONTENT_TYPE_LATEST

    dependencies = await dependency_status()
    body = await sync_to_async(_exposition, thread_sensitive=False)(dependencies)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


# -- request metrics -------------------------------------------------------------------
class MetricsMiddleware:
    """Counts responses by status class and times them (ops paths excluded,
    so probes and scrapes do not drown the signal)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        start = time.perf_counter()
        response = self.get_response(request)
        self._observe(request, response, start)
        return response

    async def _acall(self, request):
        start = time.perf_counter()
        response = await self.get_response(request)
        self._observe(request, response, start)
        return response

    @staticmethod
    def _observe(request, response, start: float) -> None:
        if request.path in OPS_PATHS:
            return
        metrics.http_response(response.status_code, time.perf_counter() - start)
        if response.status_code == 429:
            metrics.rate_limited("http")
        elif response.status_code >= 500:
            metrics.error("http")


# -- cache -------------------------------------------------------------------------
class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, answering "nothing cached" while Redis is down.

    The cache only holds REST throttle counters: while Redis is unreachable
    HTTP keeps working unthrottled instead of failing every request with 500.
    """

    def _safe(name, default=None):  # noqa: N805 - a helper used in the class body
        def method(self, *args, **kwargs):
            import redis

            try:
                return getattr(RedisCache, name)(self, *args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                metrics.layer_failure("cache")
                logger.warning("cache unavailable", extra={"op": name, "error": type(exc).__name__})
                return default(args, kwargs) if callable(default) else default

        method.__name__ = name
        return method

    get = _safe("get", lambda args, kwargs: kwargs.get("default", args[1] if len(args) > 1 else None))
    get_many = _safe("get_many", lambda args, kwargs: {})
    set = _safe("set")
    set_many = _safe("set_many", lambda args, kwargs: [])
    add = _safe("add", False)
    touch = _safe("touch", False)
    delete = _safe("delete", False)
    delete_many = _safe("delete_many")
    has_key = _safe("has_key", False)
    incr = _safe("incr", lambda args, kwargs: 0)
    clear = _safe("clear")
    del _safe


# -- log context ----------------------------------------------------------------------
_WORKSPACE_PATH = re.compile(r"/(?:ws|api)/workspaces/([0-9a-fA-F-]{32,36})/")


class LogContextFilter(logging.Filter):
    """Name the workspace on every line that knows its path but not its
    workspace, and the user under one key (`user`) whatever the caller used."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "workspace", None) is None:
            match = _WORKSPACE_PATH.search(str(getattr(record, "path", "") or ""))
            if match:
                record.workspace = match.group(1)
        if getattr(record, "user", None) is None and getattr(record, "user_id", None) is not None:
            record.user = record.user_id
        return True
