"""Notifications on sockets: /ws/me/ hello carries the unread count; a notification
reaches every socket of its user (/ws/me/ and workspace sockets) and nobody else's."""
import time

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(db):
    from django.contrib.auth import get_user_model

    from workspaces import services

    @database_sync_to_async
    def make():
        users = {n: get_user_model().objects.create(username=n) for n in ("alice", "bob", "carol")}
        ws = services.workspace_create(actor=users["alice"], name="W").data["id"]
        for name in ("bob", "carol"):
            services.member_add(actor=users["alice"], workspace_id=ws, username=name, role="member")
        return {**users, "ws": ws}

    return make


async def messages_until(comm, kinds: set[str], timeout=5) -> list[dict]:
    """Everything received until one message of each kind has arrived."""
    deadline, seen = time.monotonic() + timeout, []
    while not kinds <= {m["type"] for m in seen}:
        seen.append(await comm.receive_json_from(timeout=max(0.1, deadline - time.monotonic())))
    return seen


async def test_hello_counts_unread(team, ws_connect):
    w = await team()
    me, ok, _ = await ws_connect("/ws/me/", w["bob"])
    assert ok
    assert await me.receive_json_from(timeout=3) == {
        "type": "hello", "user": {"id": w["bob"].pk, "username": "bob"}, "unread": 1}  # added_to_workspace
    await me.send_json_to({"type": "heartbeat"})
    assert (await me.receive_json_from(timeout=3))["type"] == "heartbeat.ack"
    await me.send_json_to({"type": "task.create", "data": {}})
    assert (await me.receive_json_from(timeout=3))["code"] == "invalid"


async def test_a_notification_arriving_during_connect_comes_after_hello(team, ws_connect, monkeypatch):
    from collab_project import broadcast
    from notifications import consumers

    w = await team()
    real = consumers.unread_count

    def count_while_one_arrives(*, user):
        # Published to the user's group while the socket is still setting up.
        broadcast.send_to_user(user.pk, "user.notification", {"type": "notification", "data": {"id": "early"}})
        return real(user=user)

    monkeypatch.setattr(consumers, "unread_count", count_while_one_arrives)
    me, ok, _ = await ws_connect("/ws/me/", w["bob"])
    assert ok
    assert (await me.receive_json_from(timeout=3))["type"] == "hello"
    assert await me.receive_json_from(timeout=3) == {"type": "notification", "data": {"id": "early"}}


async def test_live_on_every_socket_of_the_user_and_nobody_elses(team, ws_connect):
    from tasks import services as tasks

    w = await team()
    sockets = {}
    for name in ("alice", "bob", "carol"):
        me, ok, _ = await ws_connect("/ws/me/", w[name])
        assert ok and (await me.receive_json_from(timeout=3))["type"] == "hello"
        board, ok, _ = await ws_connect(f"/ws/workspaces/{w['ws']}/", w[name])
        assert ok and (await board.receive_json_from(timeout=3))["type"] == "hello"
        sockets[name] = (me, board)

    task = await database_sync_to_async(tasks.task_create)(
        actor=w["alice"], workspace_id=w["ws"], title="For bob", assigned_to=w["bob"].pk)
    bob_me, bob_board = sockets["bob"]
    on_me = (await messages_until(bob_me, {"notification"}))[-1]
    on_board = [m for m in await messages_until(bob_board, {"notification", "task.created"})
                if m["type"] == "notification"]
    assert on_me == on_board[0]
    note = on_me["data"]
    assert note["type"] == "task_assigned" and note["workspace"] == w["ws"] and note["read_at"] is None
    assert note["data"]["task_id"] == task.data["id"]

    # The actor and the bystander see the event, never the notification.
    for name in ("alice", "carol"):
        me, board = sockets[name]
        seen = await messages_until(board, {"task.created"})
        assert "notification" not in {m["type"] for m in seen}, name
        assert await me.receive_nothing(timeout=0.3), name
        assert await board.receive_nothing(timeout=0.2), name
    assert await bob_me.receive_nothing(timeout=0.2)  # one notification, once per socket


# -- the socket itself: errors, refusals, idle (rt) ----------------------------------------
@pytest.fixture
def people(db):
    from django.contrib.auth import get_user_model

    from workspaces import services

    def make():
        owner, bob = (get_user_model().objects.create(username=n) for n in ("owner", "bob"))
        ws = services.workspace_create(actor=owner, name="W").data["id"]
        services.member_add(actor=owner, workspace_id=ws, username="bob")  # bob: added_to_workspace
        return owner, bob, ws

    return database_sync_to_async(make)


@pytest.fixture
def me(ws_connect):
    """An accepted /ws/me/ socket (ws_connect disconnects them all at the end)."""

    async def make(user=None, **kwargs):
        comm, ok, _ = await ws_connect("/ws/me/", user, **kwargs)
        assert ok
        return comm

    return make


async def test_heartbeat_and_errors(people, me):
    owner, bob, ws = await people()
    comm = await me(bob)
    await comm.receive_json_from(timeout=3)
    await comm.send_json_to({"type": "heartbeat"})
    assert await comm.receive_json_from(timeout=3) == {"type": "heartbeat.ack"}
    for text in ("{bad", "[]", '{"type": "task.create", "data": {"title": "x"}}'):
        await comm.send_to(text_data=text)
        assert (await comm.receive_json_from(timeout=3))["code"] == "invalid"
    await comm.send_to(text_data='{"type": "heartbeat", "pad": "' + "x" * 70000 + '"}')
    assert (await comm.receive_json_from(timeout=3))["code"] == "too_large"
    await comm.send_json_to({"type": "heartbeat"})
    assert (await comm.receive_json_from(timeout=3))["type"] == "heartbeat.ack"


async def test_refusals(people, me):
    owner, bob, ws = await people()
    comm = await me(token="garbage")
    assert (await comm.receive_output(timeout=3))["code"] == 4401
    with override_settings(WS_MAX_SOCKETS_PER_USER=1):
        await me(bob)
        extra = await me(bob)
        assert await extra.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}


async def test_idle_me_socket_closes_4408(people, me):
    owner, bob, ws = await people()
    with override_settings(WS_IDLE_TIMEOUT=1):
        comm = await me(bob)
        assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4408}
