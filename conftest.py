"""Test set-up shared by every app.

The suite runs on whatever the environment names: SQLite and the in-memory
layer by default, PostgreSQL and Redis with DATABASE_URL and REDIS_URL.
"""


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    counter = {"n": 0}

    def make(username=None, password="pass-word-123"):
        counter["n"] += 1
        user = get_user_model().objects.create_user(username=username or f"user{counter['n']}", password=password)
        return user

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
