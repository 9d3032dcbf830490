"""The workspace socket's delivery guarantee against a misbehaving channel
layer (events dropped, early, late, repeated), liveness, and the shared log
reads. Runs on SQLite + the in-memory layer and on PostgreSQL + Redis alike.
"""
import pytest
from channels.db import database_sync_to_async as in_thread
from django.test import override_settings

from workspaces.tests.socket_helpers import (  # noqa: F401
    _resend, connect, create_tasks, muted, open_ws, world)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, params=[True, False], ids=["worker-fanout", "socket-groups"])
def fanout(request, settings):
    """Every test here runs with the worker's fan-out (as shipped) and with
    each socket in the group on its own channel (the Channels-tutorial way)."""
    settings.BROADCAST_LOCAL_FANOUT = request.param
    return request.param


# -- liveness ------------------------------------------------------------------
async def test_idle_socket_closed_4408_and_messages_keep_it_alive(world, connect):
    w = await world()
    with override_settings(WS_IDLE_TIMEOUT=1):
        idle, _ = await open_ws(connect, w, "viewer")
        busy, _ = await open_ws(connect, w, "member")
        for _ in range(4):  # 2 s of traffic, twice the timeout
            await busy.send("heartbeat")
            assert (await busy.recv())["type"] == "heartbeat.ack"
            assert await busy.quiet(0.5)
        code, _ = await idle.close_code(timeout=3)
        assert code == 4408
        await busy.send("heartbeat")
        assert (await busy.recv())["type"] == "heartbeat.ack"


async def test_a_write_stuck_behind_the_database_does_not_get_its_socket_closed_idle(world, connect, monkeypatch):
    import threading

    from tasks import services as task_services
    from workspaces.consumers import WorkspaceConsumer

    w = await world()
    release = threading.Event()
    real = task_services.notifications_for_task_change

    def stuck(**kwargs):
        release.wait(5)  # the database thread is held up, as behind a backlog
        return real(**kwargs)

    async def no_tick_work(cls, sockets):
        pass  # the watchdog's own database read would queue behind the write too

    monkeypatch.setattr(task_services, "notifications_for_task_change", stuck)
    monkeypatch.setattr(WorkspaceConsumer, "tick_all", classmethod(no_tick_work))
    with override_settings(WS_IDLE_TIMEOUT=1):
        sock, _ = await open_ws(connect, w, "member")
        await sock.send("task.create", {"title": "slow"}, op_id="slow-1")
        await sock.send("heartbeat")  # queued behind the write
        assert await sock.quiet(2.5)  # over twice the idle timeout: no close
        release.set()
        got = {m["type"]: m for m in await sock.recv_n(3)}
        assert got["ack"]["seq"] == 3 and got["task.created"]["seq"] == 3 and got["heartbeat.ack"]["seq"] == 3


async def test_heartbeat_ack_carries_current_seq(world, connect):
    w = await world()
    sock, _ = await open_ws(connect, w)
    await sock.send("heartbeat")
    assert await sock.recv() == {"type": "heartbeat.ack", "seq": 2}


# -- ordering: gaps, reordering and duplicates from the layer ------------------------------------
async def test_event_ahead_of_a_dropped_one_is_healed_in_order(world, connect, muted):
    w = await world()
    sock, _ = await open_ws(connect, w)
    with muted():
        await create_tasks(w, 2)  # seqs 3 and 4 never reach the layer
    assert await sock.quiet(0.2)
    await _resend(w, 4)  # 4 arrives, 3 never does
    got = await sock.recv_n(2)
    assert [m["seq"] for m in got] == [3, 4] and got[0]["data"]["title"] == "t0"
    await _resend(w, 4)  # a duplicate
    await _resend(w, 3)  # a late one
    assert await sock.quiet()
    await create_tasks(w, 1)
    assert (await sock.recv())["seq"] == 5


async def test_reordered_events_are_delivered_in_seq_order(world, connect, muted):
    w = await world()
    sock, _ = await open_ws(connect, w)
    with muted():
        await create_tasks(w, 3)
    with override_settings(WS_REORDER_HOLD_MS=2000):
        for seq in (5, 3, 4):
            await _resend(w, seq)
        assert [m["seq"] for m in await sock.recv_n(3, timeout=1)] == [3, 4, 5]


async def test_dropped_tail_event_is_filled_by_heartbeat(world, connect, muted):
    w = await world()
    sock, _ = await open_ws(connect, w)
    with muted():
        await create_tasks(w, 1)
    await sock.send("heartbeat")
    event, ack = await sock.recv_n(2)
    assert event["seq"] == 3 and ack == {"type": "heartbeat.ack", "seq": 3}


async def test_event_dropped_right_after_connect_is_caught_up_unasked(world, connect, muted):
    """The subscription may not be live yet when an event is published just
    after the hello: the socket looks at the log once more by itself."""
    w = await world()
    sock, _ = await open_ws(connect, w)
    with muted():
        await create_tasks(w, 1)
    assert (await sock.recv(timeout=3))["seq"] == 3


async def test_dropped_tail_event_is_filled_within_a_tick_unasked(world, connect, muted):
    w = await world()
    with override_settings(WS_IDLE_TIMEOUT=4):  # a watchdog tick of 1 s
        sock, _ = await open_ws(connect, w)
        assert await sock.quiet(0.8)  # past the catch-up after connect
        with muted():
            await create_tasks(w, 1)
        assert (await sock.recv(timeout=2.5))["seq"] == 3


async def test_limits_fail_open_when_redis_fails(world, connect, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from collab_project import ratelimit

    class Broken:
        def pipeline(self, **kwargs):
            raise RedisConnectionError("gone")

        async def zadd(self, *a, **k):
            raise RedisConnectionError("gone")

        zrem = zadd

    monkeypatch.setattr(ratelimit, "get_redis", lambda: Broken())
    w = await world()
    sock, _ = await open_ws(connect, w)
    await sock.send("heartbeat")
    assert (await sock.recv())["type"] == "heartbeat.ack"


async def test_notification_reaches_the_workspace_socket(world, connect):
    from tasks import services as tasks

    w = await world()
    sock, _ = await open_ws(connect, w, "member")
    await in_thread(tasks.task_create)(actor=w["owner"], workspace_id=w["ws"], title="yours",
                                       assigned_to=w["member"].pk)
    got = {m["type"]: m for m in await sock.recv_n(2)}
    assert got["notification"]["data"]["type"] == "task_assigned"
    assert got["task.created"]["data"]["assigned_to"] == w["member"].pk


async def test_log_reads_of_a_worker_are_shared(world, monkeypatch):
    import asyncio
    import time

    from workspaces import consumers

    w = await world()
    calls = []
    real_events, real_seq = consumers._read_events_after, consumers._current_seq

    async def counted_events(*args):
        calls.append(("events", args))
        return await real_events(*args)

    async def counted_seq(*args):
        calls.append(("seq", args))
        return await real_seq(*args)

    monkeypatch.setattr(consumers, "_read_events_after", counted_events)
    monkeypatch.setattr(consumers, "_current_seq", counted_seq)
    results = await asyncio.gather(*(consumers._events_after(w["ws"], 2, 0, 10) for _ in range(5)))
    assert all(r == results[0] for r in results) and [e["seq"] for e in results[0][0]] == [1, 2]
    assert [c[0] for c in calls] == ["events"]
    start = time.monotonic()
    seqs = await asyncio.gather(*(consumers._last_seq(w["ws"], start) for _ in range(5)))
    assert seqs == [2] * 5 and [c[0] for c in calls] == ["events", "seq"]
    assert await consumers._last_seq(w["ws"], start) == 2  # fresh enough: no new read
    await create_tasks(w, 1)
    assert await consumers._last_seq(w["ws"], time.monotonic()) == 3  # asked for newer: reads again
    assert [c[0] for c in calls] == ["events", "seq", "seq"]


# -- the worker's fan-out ----------------------------------------------------------
async def test_sockets_of_a_workspace_share_one_subscription(world, connect, fanout):
    from channels.layers import get_channel_layer

    from collab_project.fanout import local_fanout
    from workspaces.events import workspace_group

    w = await world()
    socks = [(await open_ws(connect, w, who))[0] for who in ("owner", "member", "viewer")]
    group = workspace_group(w["ws"])
    layer = get_channel_layer()
    inner = layer._get_layer() if hasattr(layer, "_get_layer") else layer  # pub/sub keeps state per loop
    subscribed = inner.groups.get(inner._get_group_channel_name(group) if hasattr(inner, "_get_group_channel_name")
                                  else group, ())
    if fanout:
        assert local_fanout().size(group) == 3 and list(subscribed) == [local_fanout().channel]
    else:
        assert local_fanout().size(group) == 0 and len(subscribed) == 3
    await create_tasks(w, 1)
    assert [(await sock.recv())["seq"] for sock in socks] == [3, 3, 3]


async def test_group_messages_wait_behind_a_busy_socket_in_arrival_order():
    """While a socket holds its lock (hello, a replay, a gap fill from the
    log), the fan-out queues its messages instead of waiting; they go out in
    order once it is free, and the next one then goes out at once."""
    import asyncio
    import json
    from workspaces.consumers import WorkspaceConsumer

    sent = []

    async def base_send(message):
        sent.append(json.loads(message["text"]))

    sock = WorkspaceConsumer()
    sock.base_send, sock.channel_name, sock.closing = base_send, "me", False
    sock.delivered, sock.pending, sock.lock = 2, {}, asyncio.Lock()
    sock.backlog, sock.drainer, sock.gap_timer = None, None, None

    def event(seq):
        return {"type": "ws.event", "seq": seq, "event": "task.created", "text": json.dumps({"seq": seq})}

    presence = {"type": "ws.presence", "origin": "other", "text": json.dumps({"presence": 1})}
    await sock.lock.acquire()
    for message in (event(3), presence, event(4), event(2)):
        await sock.group_message(message)  # returns at once, though the lock is held
    assert sent == [] and len(sock.backlog) == 4
    sock.lock.release()
    await asyncio.wait_for(sock.drainer, 2)
    assert sent == [{"seq": 3}, {"presence": 1}, {"seq": 4}] and sock.delivered == 4
    await sock.group_message(event(5))
    assert sent[-1] == {"seq": 5} and sock.drainer is None  # delivered in the call itself
