"""The presence store, on both backends: in process (always) and Redis (marked)."""
import asyncio
import time
from types import SimpleNamespace

import pytest
from django.test import override_settings

from presence import store


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request):
    from collab_project.redis_client import get_redis

    if request.param == "local":
        with override_settings(REDIS_URL=""):
            yield "local"
        return
    yield "redis"
    await get_redis().aclose()


def person(pk: int, name: str | None = None):
    return SimpleNamespace(pk=pk, username=name or f"user{pk}")


ALICE, BOB, CAROL = person(1, "alice"), person(2, "bob"), person(3, "carol")
WS = "11111111-1111-1111-1111-111111111111"


async def until(condition, timeout: float = 5.0):
    """Poll an async condition until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def names(states):
    return [s["user"]["username"] for s in states]


async def test_first_socket_joins_and_last_one_leaves(backend):
    first = await store.join(WS, "c1", ALICE, 30)
    assert first["user"] == {"id": 1, "username": "alice"}
    assert first["status"] == "active" and first["viewing"] is None and first["since"].endswith("Z")
    assert await store.join(WS, "c2", ALICE, 30) is None  # a second tab is the same presence
    assert names(await store.online(WS)) == ["alice"]
    assert await store.leave(WS, "c1", ALICE) is None
    assert names(await store.online(WS)) == ["alice"]
    last = await store.leave(WS, "c2", ALICE)
    assert last["user"]["username"] == "alice"
    assert await store.online(WS) == []
    assert await store.leave(WS, "c2", ALICE) is None  # leaving twice reports nothing
    if backend == "local":
        assert WS not in store._local  # an empty workspace is not kept in memory


async def test_online_lists_each_user_once_in_arrival_order(backend):
    await store.join(WS, "a", ALICE, 30)
    await asyncio.sleep(0.002)  # distinct `since` values, so the order is observable
    await store.join(WS, "b1", BOB, 30)
    await store.join(WS, "b2", BOB, 30)
    listed = await store.online(WS)
    assert names(listed) == ["alice", "bob"]
    assert set(listed[0]) == {"user", "status", "viewing", "since"}
    assert await store.online("22222222-2222-2222-2222-222222222222") == []


async def test_update_sets_status_and_viewing(backend):
    await store.join(WS, "a", ALICE, 30)
    state = await store.update(WS, ALICE, status="idle", viewing="t-1")
    assert (state["status"], state["viewing"]) == ("idle", "t-1")
    listed = await store.online(WS)
    assert (listed[0]["status"], listed[0]["viewing"]) == ("idle", "t-1")
    assert listed[0]["since"] == state["since"]
    with pytest.raises(ValueError):
        await store.update(WS, ALICE, status="away", viewing=None)
    left = await store.leave(WS, "a", ALICE)
    assert (left["status"], left["viewing"]) == ("idle", "t-1")
    again = await store.join(WS, "a2", ALICE, 30)
    assert (again["status"], again["viewing"]) == ("active", None)  # a new session starts fresh


async def test_expired_entries_vanish_and_one_sweep_reports_them(backend):
    await store.join(WS, "dead", ALICE, 0.2)  # a killed worker's socket: never refreshed
    await store.join(WS, "live", BOB, 30)
    await until(lambda: _not_listed(WS, "alice"))
    # Five workers sweeping at once: exactly one reports alice.
    results = await asyncio.gather(*(store.sweep(WS) for _ in range(5)))
    reported = [s["user"]["username"] for r in results for s in r]
    assert reported == ["alice"]
    assert await store.sweep(WS) == []
    assert names(await store.online(WS)) == ["bob"]
    assert await store.leave(WS, "dead", ALICE) is None  # already announced gone


async def _not_listed(ws, name):
    return name not in names(await store.online(ws))


async def _swept(ws, name):
    return name in names(await store.sweep(ws))


async def test_a_dead_tab_does_not_end_a_live_one(backend):
    await store.join(WS, "dead", ALICE, 0.2)
    await store.join(WS, "live", ALICE, 30)
    await store.join(WS, "marker", CAROL, 0.2)  # expires with the dead tab
    await until(lambda: _swept(WS, "carol"))
    assert names(await store.online(WS)) == ["alice"]
    assert (await store.leave(WS, "live", ALICE))["user"]["username"] == "alice"


async def test_touch_keeps_an_entry_alive(backend):
    await store.join(WS, "a", ALICE, 0.3)
    assert await store.touch(WS, "a", ALICE, 30) is None
    await store.join(WS, "marker", CAROL, 0.3)
    await until(lambda: _swept(WS, "carol"))
    assert names(await store.online(WS)) == ["alice"]


async def test_touch_after_a_sweep_brings_the_user_back(backend):
    await store.join(WS, "a", ALICE, 0.1)
    await until(lambda: _swept(WS, "alice"))
    back = await store.touch(WS, "a", ALICE, 30)
    assert back["user"]["username"] == "alice"
    assert names(await store.online(WS)) == ["alice"]
    assert await store.touch(WS, "a", ALICE, 30) is None


async def test_touch_of_an_expired_entry_not_yet_swept_is_silent(backend):
    await store.join(WS, "a", ALICE, 0.1)
    await until(lambda: _not_listed(WS, "alice"))
    assert await store.touch(WS, "a", ALICE, 30) is None  # nobody announced a departure
    assert names(await store.online(WS)) == ["alice"]
    assert await store.sweep(WS) == []


async def test_join_after_leaving_is_announced_again(backend):
    first = await store.join(WS, "a", ALICE, 30)
    await store.leave(WS, "a", ALICE)
    await asyncio.sleep(0.002)
    second = await store.join(WS, "b", ALICE, 30)
    assert second is not None and second["since"] >= first["since"]


async def test_workspaces_are_separate(backend):
    other = "33333333-3333-3333-3333-333333333333"
    await store.join(WS, "a", ALICE, 30)
    assert (await store.join(other, "a2", ALICE, 30)) is not None
    await store.leave(other, "a2", ALICE)
    assert names(await store.online(WS)) == ["alice"]
    assert await store.online(other) == []


@pytest.fixture
async def redis_only():
    from collab_project.redis_client import get_redis

    yield get_redis()
    await get_redis().aclose()


@pytest.mark.redis
async def test_redis_keys_expire_on_their_own(redis_only):
    from collab_project.redis_client import get_redis

    await store.join(WS, "a", ALICE, 30)
    await store.update(WS, ALICE, status="idle", viewing=None)
    redis = get_redis()
    for key in store._keys(WS):
        assert 0 < await redis.pttl(key) <= 90_000
    await store.update("44444444-4444-4444-4444-444444444444", BOB, status="idle", viewing=None)
    assert await redis.pttl(store._keys("44444444-4444-4444-4444-444444444444")[1]) > 0


@pytest.mark.redis
async def test_redis_scripts_survive_a_script_flush(redis_only):
    from collab_project.redis_client import get_redis

    await store.join(WS, "a", ALICE, 30)
    await get_redis().script_flush()
    assert names(await store.online(WS)) == ["alice"]
