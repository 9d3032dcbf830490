"""Healing the psycopg pool after a database outage.

Connections that died with the database stay in the pool; left alone, each
would fail one more request (503) before the pool replaced it, for seconds
after the database is back. The first failure therefore starts one check of
the whole pool in a background thread (psycopg_pool's `check()`: test each
idle connection, replace the dead ones), at most once every few seconds and
never while the last one is still running (against a database that drops
packets a check can wait out TCP timeouts; threads must not pile up).
Checking every connection on every checkout (CONN_HEALTH_CHECKS) would cost
a round trip on every request instead.
"""
import logging
import threading
import time

from django.db import connection

logger = logging.getLogger("collab.db")

CHECK_EVERY_S = 2.0
_lock = threading.Lock()
_last = -CHECK_EVERY_S
_running: threading.Thread | None = None


def pool_suspect() -> bool:
    """A database call failed: check the pool soon. True if a check was started."""
    global _last, _running
    pool = getattr(connection, "pool", None)  # None on SQLite or with DB_POOL=0
    if pool is None:
        return False
    now = time.monotonic()
    with _lock:
        if now - _last < CHECK_EVERY_S or (_running is not None and _running.is_alive()):
            return False
        _last = now
        _running = threading.Thread(target=_check, args=(pool,), name="db-pool-check", daemon=True)
        _running.start()
    return True


def _check(pool) -> None:
    try:
        pool.check()
    except Exception as exc:  # noqa: BLE001 - still down: the next failure checks again
        logger.warning("database pool check failed", extra={"error": type(exc).__name__})
