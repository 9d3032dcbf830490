"""Test set-up shared by every app.

The suite runs on whatever the environment names: SQLite and the in-memory
layer by default, PostgreSQL and Redis with DATABASE_URL and REDIS_URL.
Tests marked `postgres`, `redis` or `browser` need that part; where it is
missing they skip with the reason, or fail when REQUIRE_SERVICES=1.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
from services_check import reachable  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing(marker: str) -> str | None:
    from django.conf import settings

    if marker == "postgres":
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            return "needs PostgreSQL: run with DATABASE_URL (make test does when it answers)"
        return None
    if marker == "redis":
        if not settings.REDIS_URL:
            return "needs Redis: run with REDIS_URL (make test does when it answers)"
        return reachable(settings.REDIS_URL, 6379)
    if marker == "browser":
        return None if shutil.which(CHROMIUM) or Path(CHROMIUM).exists() else f"needs Chromium at {CHROMIUM}"
    return None


_reasons: dict[str, str | None] = {}


def pytest_runtest_setup(item):
    for marker in ("postgres", "redis", "browser"):
        if item.get_closest_marker(marker) is None:
            continue
        if marker not in _reasons:
            _reasons[marker] = _missing(marker)
        reason = _reasons[marker]
        if reason is None:
            continue
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Start each test with an empty cache (on Redis: only this run's keys, see
    _flush_redis_keys) and a fast password hasher (the default costs ~0.3 s a user)."""
    from django.core.cache import cache

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if not settings.REDIS_URL:
        cache.clear()
    yield


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    counter = {"n": 0}

    def make(username=None, password="pass-word-123"):
        counter["n"] += 1
        return get_user_model().objects.create_user(username=username or f"user{counter['n']}", password=password)

    return make


@pytest.fixture
def api(db):
    """An API client factory: api(user) is authenticated with a JWT."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_realtime_state():
    """Limits and presence are per user id, which tests reuse: start clean."""
    from collab_project import ratelimit
    from presence import store

    ratelimit.reset_local()
    store.reset_local()
    _flush_redis_keys()
    yield


def _flush_redis_keys():
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{settings.REDIS_KEY_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture
async def ws_connect():
    """Open a WebsocketCommunicator on the project's ASGI app; closes them all at the end."""
    from channels.testing import WebsocketCommunicator
    from rest_framework_simplejwt.tokens import AccessToken

    from collab_project.asgi import application

    opened = []

    async def connect(path, user=None, *, token=None, origin=None, headers=None, expect_accept=True):
        if user is not None and token is None:
            token = str(AccessToken.for_user(user))
        if token is not None:
            path += ("&" if "?" in path else "?") + f"token={token}"
        all_headers = list(headers or [])
        if origin:
            all_headers.append((b"origin", origin.encode()))
        communicator = WebsocketCommunicator(application, path, headers=all_headers)
        connected, code = await communicator.connect(timeout=5)
        opened.append(communicator)
        return communicator, connected, code

    yield connect
    for communicator in opened:
        # Let each consumer run its disconnect (presence, registrations) before the loop ends.
        try:
            await communicator.disconnect(timeout=2)
        except Exception:  # already closed by the server or the test
            pass
