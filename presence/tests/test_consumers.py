"""Presence on the workspace socket (real ASGI app, WebsocketCommunicator).

Runs on SQLite + the in-memory layer and on PostgreSQL + Redis alike.
"""
import time

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from presence import store

pytestmark = pytest.mark.django_db(transaction=True)


class Sock:
    def __init__(self, comm):
        self.comm = comm

    async def send(self, kind, data=None, op_id=None):
        body = {"type": kind}
        if data is not None:
            body["data"] = data
        if op_id is not None:
            body["op_id"] = op_id
        await self.comm.send_json_to(body)

    async def recv(self, timeout=3):
        return await self.comm.receive_json_from(timeout=timeout)

    async def recv_type(self, kind, timeout=5):
        """The first message of that type (others are skipped), within the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(timeout=max(0.1, deadline - time.monotonic()))
            if msg["type"] == kind:
                return msg

    async def close_code(self, timeout=5):
        while True:
            out = await self.comm.receive_output(timeout=timeout)
            if out["type"] == "websocket.close":
                return out.get("code")


@pytest.fixture
def world(db):
    from django.contrib.auth import get_user_model

    from tasks import services as tasks
    from workspaces import services

    @database_sync_to_async
    def make():
        users = {n: get_user_model().objects.create(username=n) for n in ("alice", "bob", "carol")}
        ws = services.workspace_create(actor=users["alice"], name="W").data["id"]
        services.member_add(actor=users["alice"], workspace_id=ws, username="bob", role="member")
        services.member_add(actor=users["alice"], workspace_id=ws, username="carol", role="viewer")
        other = services.workspace_create(actor=users["alice"], name="Other").data["id"]
        task = tasks.task_create(actor=users["alice"], workspace_id=ws, title="T").data["id"]
        foreign = tasks.task_create(actor=users["alice"], workspace_id=other, title="F").data["id"]
        return {**users, "ws": ws, "task": task, "foreign_task": foreign}

    return make


@pytest.fixture
def open_ws(ws_connect):
    async def connect(w, who):
        comm, ok, _ = await ws_connect(f"/ws/workspaces/{w['ws']}/", w[who])
        assert ok
        sock = Sock(comm)
        hello = await sock.recv()
        assert hello["type"] == "hello"
        return sock, hello

    return connect


async def entries_of(workspace_id, user) -> list[str]:
    """The connection names the store holds for a user (a peek at its internals)."""
    from collab_project.redis_client import get_redis

    redis = get_redis()
    if redis is None:
        members = list(store._local[workspace_id].conns)
    else:
        members = [m.decode() for m in await redis.zrange(store._keys(workspace_id)[0], 0, -1)]
    return [m.split("|", 1)[1] for m in members if m.startswith(f"{user.pk}|")]


def who(presence):
    return sorted(p["user"]["username"] for p in presence)


async def test_hello_lists_the_caller_and_others_hear_of_the_first_tab_only(world, open_ws):
    w = await world()
    alice, hello = await open_ws(w, "alice")
    assert who(hello["presence"]) == ["alice"]
    mine = hello["presence"][0]
    assert set(mine) == {"user", "status", "viewing", "since"} and mine["status"] == "active"
    assert hello["heartbeat_interval"] == 30

    bob1, hello_b = await open_ws(w, "bob")
    assert who(hello_b["presence"]) == ["alice", "bob"]
    joined = await alice.recv()
    assert joined == {"type": "presence.joined",
                      "data": {"user": {"id": w["bob"].pk, "username": "bob"}, "status": "active", "viewing": None}}

    bob2, hello_b2 = await open_ws(w, "bob")
    assert who(hello_b2["presence"]) == ["alice", "bob"]
    # A marker through the same group: had the second tab been announced, it would come first.
    await bob2.send("presence.update", {"status": "idle", "viewing": None})
    assert (await alice.recv())["type"] == "presence.updated"

    await bob1.comm.disconnect()
    await bob2.send("presence.update", {"status": "active", "viewing": None})
    assert (await alice.recv())["type"] == "presence.updated"  # not presence.left: a tab is still open
    await bob2.comm.disconnect()
    left = await alice.recv()
    assert left["type"] == "presence.left" and left["data"]["user"]["username"] == "bob"
    assert left["data"]["status"] == "offline"
    assert who(await store.online(w["ws"])) == ["alice"]


async def test_presence_update_reaches_others_not_the_sender(world, open_ws):
    w = await world()
    alice, _ = await open_ws(w, "alice")
    carol, _ = await open_ws(w, "carol")  # a viewer may show presence too
    await alice.recv_type("presence.joined")
    await carol.send("presence.update", {"status": "idle", "viewing": w["task"]})
    updated = await alice.recv()
    assert updated == {"type": "presence.updated", "data": {
        "user": {"id": w["carol"].pk, "username": "carol"}, "status": "idle", "viewing": w["task"]}}
    await carol.send("heartbeat")
    assert (await carol.recv())["type"] == "heartbeat.ack"  # its own update is not echoed
    listed = {p["user"]["username"]: p for p in await store.online(w["ws"])}
    assert (listed["carol"]["status"], listed["carol"]["viewing"]) == ("idle", w["task"])


@pytest.mark.parametrize("data, field", [
    ({"status": "away", "viewing": None}, "status"),
    ({"viewing": None}, "status"),
    ({"status": 1}, "status"),
    ({"status": "active", "viewing": "foreign"}, "viewing"),
    ({"status": "active", "viewing": "not-a-uuid"}, "viewing"),
    ({"status": "active", "viewing": "00000000-0000-0000-0000-000000000000"}, "viewing"),
    ({"status": "active", "viewing": 5}, "viewing"),
])
async def test_bad_presence_updates_are_invalid_and_the_socket_stays(world, open_ws, data, field):
    w = await world()
    alice, _ = await open_ws(w, "alice")
    if data.get("viewing") == "foreign":
        data = {**data, "viewing": w["foreign_task"]}
    await alice.send("presence.update", data, op_id="p1")
    error = await alice.recv()
    assert error["type"] == "error" and error["code"] == "invalid" and error["op_id"] == "p1"
    assert field in error["data"]["fields"]
    await alice.send("heartbeat")
    assert (await alice.recv())["type"] == "heartbeat.ack"
    assert (await store.online(w["ws"]))[0]["status"] == "active"


async def test_idle_socket_is_closed_4408_and_announced_gone(world, open_ws):
    w = await world()
    with override_settings(WS_IDLE_TIMEOUT=2):
        alice, _ = await open_ws(w, "alice")
        bob, _ = await open_ws(w, "bob")
        await alice.recv_type("presence.joined")
        # alice keeps talking, bob goes silent.
        deadline = time.monotonic() + 8
        code = None
        while code is None:
            assert time.monotonic() < deadline, "bob's silent socket was not closed"
            await alice.send("heartbeat")
            await alice.recv_type("heartbeat.ack")
            if await bob.comm.receive_nothing(timeout=0.3) is False:
                code = await bob.close_code()
        assert code == 4408
        await bob.comm.disconnect()
        left = await alice.recv_type("presence.left")
        assert left["data"]["user"]["username"] == "bob"


async def test_a_dead_workers_socket_is_swept_and_announced(world, open_ws):
    """An entry nobody refreshes (its worker was killed) goes within the TTL."""
    w = await world()
    with override_settings(WS_IDLE_TIMEOUT=4):
        alice, _ = await open_ws(w, "alice")
        assert await store.join(w["ws"], "dead-worker-conn", w["bob"], 0.3)
        assert who(await store.online(w["ws"])) == ["alice", "bob"]
        started = time.monotonic()
        left = await alice.recv_type("presence.left", timeout=5)
        assert left["data"]["user"]["username"] == "bob"
        assert time.monotonic() - started < 3  # expiry 0.3 s + one 1 s tick, with slack
        assert who(await store.online(w["ws"])) == ["alice"]


async def test_a_socket_swept_while_alive_is_announced_again(world, open_ws):
    """A worker that stalled past the TTL puts its user back on its next tick."""
    w = await world()
    with override_settings(WS_IDLE_TIMEOUT=2):
        alice, _ = await open_ws(w, "alice")
        bob, _ = await open_ws(w, "bob")
        await alice.recv_type("presence.joined")
        # What a surviving worker's sweep does when bob's worker stalls.
        conns = await entries_of(w["ws"], w["bob"])
        assert len(conns) == 1
        assert await store.leave(w["ws"], conns[0], w["bob"])
        assert who(await store.online(w["ws"])) == ["alice"]
        joined = await alice.recv_type("presence.joined", timeout=4)
        assert joined["data"]["user"]["username"] == "bob"
        assert who(await store.online(w["ws"])) == ["alice", "bob"]


async def test_rest_presence_matches_hello(world, open_ws, api):
    w = await world()
    alice, _ = await open_ws(w, "alice")
    bob, hello = await open_ws(w, "bob")

    @database_sync_to_async
    def rest():
        return api(w["carol"]).get(f"/api/workspaces/{w['ws']}/presence/").json()

    assert await rest() == hello["presence"]
    await bob.comm.disconnect()
    await alice.recv_type("presence.left")
    assert who(await rest()) == ["alice"]
