"""Presence across real processes: two Daphne workers on PostgreSQL and Redis,
real WebSocket clients, PRESENCE_TTL and WS_IDLE_TIMEOUT shortened to 4 s.

One user with tabs on both workers is one presence; a silent socket is closed
4408 and announced gone; a worker killed with -9 leaves no ghost: a surviving
worker announces its users gone within PRESENCE_TTL."""
import asyncio
import contextlib
import json
import time
import uuid

import pytest

from tests.integration.stack import start_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]

TTL = 4


class Sock:
    """A real WebSocket with an optional heartbeat loop (the server closes silent sockets after TTL)."""

    def __init__(self, conn, beat: bool):
        self.conn = conn
        self.beat = asyncio.ensure_future(self._beat()) if beat else None

    @classmethod
    async def open(cls, stack, worker: int, user: dict, path: str, *, beat: bool = True):
        from websockets.asyncio.client import connect

        conn = await connect(f"{stack.ws(worker)}{path}?token={user['token']}", open_timeout=15, close_timeout=2)
        sock = cls(conn, beat)
        sock.hello = await sock.recv(10)
        assert sock.hello["type"] == "hello", sock.hello
        return sock

    async def _beat(self):
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(1)
                await self.conn.send(json.dumps({"type": "heartbeat"}))

    async def send(self, kind: str, data: dict | None = None):
        await self.conn.send(json.dumps({"type": kind, "data": data or {}}))

    async def recv(self, timeout: float = 5) -> dict:
        return json.loads(await asyncio.wait_for(self.conn.recv(), timeout))

    async def next_presence(self, timeout: float = 8) -> dict:
        """The next presence.* message (events and heartbeat acks are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.05, deadline - time.monotonic()))
            if message["type"].startswith("presence."):
                return message

    async def close(self):
        if self.beat:
            self.beat.cancel()
        with contextlib.suppress(Exception):
            await self.conn.close()


@pytest.fixture(scope="module")
def stack():
    started = start_stack(workers=2, env={"PRESENCE_TTL": str(TTL), "WS_IDLE_TIMEOUT": str(TTL)}, name="pn")
    yield started
    started.close()


@pytest.fixture(scope="module")
def people(stack):
    return {name: stack.register(name, worker=i % 2) for i, name in enumerate(("ann", "ben"))}


@pytest.fixture
def team(stack, people):
    return stack.workspace(people["ann"], {"ben": (people["ben"], "member")}, name=f"W{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def sockets():
    opened = []

    async def open_(*args, **kwargs):
        opened.append(await Sock.open(*args, **kwargs))
        return opened[-1]

    yield open_
    await asyncio.gather(*(s.close() for s in opened))


def online(stack, user, ws, worker=0) -> list[str]:
    _, listed = stack.api("GET", f"/api/workspaces/{ws}/presence/", user, worker=worker, expect=200)
    return sorted(p["user"]["username"] for p in listed)


async def test_tabs_on_two_workers_are_one_presence(stack, people, team, sockets):
    ann, ben = people["ann"], people["ben"]
    path = f"/ws/workspaces/{team}/"
    watcher = await sockets(stack, 0, ann, path)
    tab1 = await sockets(stack, 0, ben, path)
    joined = await watcher.next_presence()
    assert joined["type"] == "presence.joined" and joined["data"]["user"]["username"] == "ben"
    tab2 = await sockets(stack, 1, ben, path)
    assert sorted(p["user"]["username"] for p in tab2.hello["presence"]) == ["ann", "ben"]
    # Marker on the same group: an announcement of the second tab would arrive before it.
    await tab2.send("presence.update", {"status": "idle", "viewing": None})
    updated = await watcher.next_presence()
    assert updated["type"] == "presence.updated" and updated["data"]["status"] == "idle"
    assert online(stack, ann, team, 1) == ["ann", "ben"]
    _, listed = stack.api("GET", f"/api/workspaces/{team}/presence/", ann, expect=200)
    assert [p["status"] for p in listed if p["user"]["username"] == "ben"] == ["idle"]

    await tab1.close()
    await tab2.send("presence.update", {"status": "active", "viewing": None})
    assert (await watcher.next_presence())["type"] == "presence.updated"  # not left: tab2 is open
    assert online(stack, ann, team) == ["ann", "ben"]
    await tab2.close()
    left = await watcher.next_presence()
    assert left["type"] == "presence.left" and left["data"]["user"]["username"] == "ben"
    assert online(stack, ann, team, 1) == ["ann"]


async def test_a_silent_socket_is_closed_4408_and_announced_gone(stack, people, team, sockets):
    from websockets.exceptions import ConnectionClosed

    ann, ben = people["ann"], people["ben"]
    watcher = await sockets(stack, 0, ann, f"/ws/workspaces/{team}/")
    silent = await sockets(stack, 1, ben, f"/ws/workspaces/{team}/", beat=False)
    assert (await watcher.next_presence())["type"] == "presence.joined"
    started = time.monotonic()
    with pytest.raises(ConnectionClosed):
        while True:
            await silent.recv(TTL * 3)
    assert silent.conn.close_code == 4408
    left = await watcher.next_presence()
    assert left["type"] == "presence.left" and left["data"]["user"]["username"] == "ben"
    assert time.monotonic() - started < TTL * 2.5
    assert online(stack, ann, team) == ["ann"]


async def test_a_killed_worker_leaves_no_ghosts(stack, people, team, sockets):
    ann, ben = people["ann"], people["ben"]
    watcher = await sockets(stack, 0, ann, f"/ws/workspaces/{team}/")
    await sockets(stack, 1, ben, f"/ws/workspaces/{team}/")
    await sockets(stack, 1, ben, f"/ws/workspaces/{team}/")  # two tabs, both on the doomed worker
    assert (await watcher.next_presence())["type"] == "presence.joined"
    assert online(stack, ann, team) == ["ann", "ben"]
    try:
        stack.kill(1)  # no close, no teardown: only expiry can tell
        killed = time.monotonic()
        left = await watcher.next_presence(timeout=TTL + 4)
        elapsed = time.monotonic() - killed
        assert left["type"] == "presence.left" and left["data"]["user"]["username"] == "ben"
        assert elapsed <= TTL + 1.0, elapsed  # within PRESENCE_TTL (plus scheduling slack)
        assert online(stack, ann, team) == ["ann"]
        # Announced once: nothing more about ben while ann's worker keeps sweeping.
        await watcher.send("presence.update", {"status": "idle", "viewing": None})
        with pytest.raises(asyncio.TimeoutError):
            await watcher.next_presence(timeout=2)
    finally:
        # In a thread: the loop must keep ann's heartbeats going meanwhile.
        await asyncio.to_thread(stack.restart, 1)
    # The restarted worker serves presence again.
    back = await sockets(stack, 1, ben, f"/ws/workspaces/{team}/")
    assert sorted(p["user"]["username"] for p in back.hello["presence"]) == ["ann", "ben"]
    joined = await watcher.next_presence()
    assert joined["type"] == "presence.joined" and joined["data"]["user"]["username"] == "ben"
