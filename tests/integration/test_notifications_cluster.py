"""Notifications across real processes: two Daphne workers on PostgreSQL and
Redis, real WebSocket clients.

A notification to an offline user is listed when they come back; to an
online one it arrives live on ALL their sockets (/ws/me/ and workspace
sockets, on either worker); nobody is notified of their own action; and no
other user ever sees it, on a socket or over REST."""
import asyncio
import contextlib
import json
import time
import uuid

import pytest

from tests.integration.stack import start_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]


class Sock:
    def __init__(self, conn, name):
        self.conn, self.name, self.seen = conn, name, []

    @classmethod
    async def open(cls, stack, worker: int, user: dict, path: str):
        from websockets.asyncio.client import connect

        conn = await connect(f"{stack.ws(worker)}{path}?token={user['token']}", open_timeout=15, close_timeout=2)
        sock = cls(conn, f"{user['username']}{path}@{worker}")
        sock.hello = json.loads(await asyncio.wait_for(conn.recv(), 10))
        assert sock.hello["type"] == "hello", sock.hello
        return sock

    async def recv(self, timeout: float) -> dict:
        message = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        self.seen.append(message)
        return message

    async def notification(self, timeout: float = 8) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.05, deadline - time.monotonic()))
            if message["type"] == "notification":
                return message["data"]

    async def drain(self, timeout: float) -> list[dict]:
        """Whatever arrives within `timeout` (a bounded look for what must not come)."""
        with contextlib.suppress(asyncio.TimeoutError):
            deadline = time.monotonic() + timeout
            while True:
                await self.recv(max(0.01, deadline - time.monotonic()))
        return [m["data"] for m in self.seen if m["type"] == "notification"]

    async def close(self):
        with contextlib.suppress(Exception):
            await self.conn.close()


@pytest.fixture(scope="module")
def stack():
    started = start_stack(workers=2, name="pnn")
    yield started
    started.close()


@pytest.fixture(scope="module")
def people(stack):
    return {name: stack.register(name, worker=i % 2) for i, name in enumerate(("amy", "bo", "cy"))}


@pytest.fixture
def team(stack, people):
    return stack.workspace(people["amy"], {"bo": (people["bo"], "member"), "cy": (people["cy"], "member")},
                           name=f"W{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def sockets():
    opened = []

    async def open_(*args):
        opened.append(await Sock.open(*args))
        return opened[-1]

    yield open_
    await asyncio.gather(*(s.close() for s in opened))


def inbox(stack, user, query="", worker=0) -> list[dict]:
    _, page = stack.api("GET", f"/api/notifications/{query}", user, worker=worker, expect=200)
    return page["results"]


def create_task(stack, user, ws, worker=0, **fields) -> dict:
    _, task = stack.api("POST", f"/api/workspaces/{ws}/tasks/", user, {"title": "T", **fields}, worker=worker,
                        expect=201)
    return task


async def test_offline_user_finds_it_when_back(stack, people, team, sockets):
    amy, bo = people["amy"], people["bo"]
    stack.api("POST", "/api/notifications/read-all/", bo, expect=200)
    task = create_task(stack, amy, team, worker=1, title="while you were out", assigned_to=bo["id"])
    me = await sockets(stack, 0, bo, "/ws/me/")
    assert me.hello["unread"] == 1
    unread = inbox(stack, bo, "?unread=true", worker=1)
    assert [(n["type"], n["data"]["task_id"], n["workspace"]) for n in unread] == [
        ("task_assigned", task["id"], team)]
    _, read = stack.api("POST", f"/api/notifications/{unread[0]['id']}/read/", bo, expect=200)
    assert read["read_at"] is not None
    assert inbox(stack, bo, "?unread=true") == []


async def test_live_on_all_sockets_of_the_user_and_never_anyone_elses(stack, people, team, sockets):
    amy, bo, cy = people["amy"], people["bo"], people["cy"]
    board = f"/ws/workspaces/{team}/"
    bo_socks = [await sockets(stack, 0, bo, "/ws/me/"), await sockets(stack, 1, bo, "/ws/me/"),
                await sockets(stack, 1, bo, board), await sockets(stack, 0, bo, board)]
    cy_socks = [await sockets(stack, 1, cy, "/ws/me/"), await sockets(stack, 0, cy, board)]
    amy_socks = [await sockets(stack, 0, amy, "/ws/me/"), await sockets(stack, 1, amy, board)]

    task = create_task(stack, amy, team, worker=1, title="for bo", assigned_to=bo["id"])
    received = [await s.notification() for s in bo_socks]
    assert all(n == received[0] for n in received), received
    note = received[0]
    assert note["type"] == "task_assigned" and note["data"]["task_id"] == task["id"]
    assert note["id"] in [n["id"] for n in inbox(stack, bo)]

    # The actor and the bystander: nothing on any socket, nothing listed, 404 on bo's id.
    for sock in cy_socks + amy_socks:
        assert await sock.drain(0.5) == [], sock.name
    for user in (amy, cy):
        assert note["id"] not in [n["id"] for n in inbox(stack, user, worker=1)]
        status, body = stack.api("POST", f"/api/notifications/{note['id']}/read/", user)
        assert (status, body["code"]) == (404, "not_found")
    assert inbox(stack, bo, "?unread=true")[0]["read_at"] is None  # their 404s read nothing
    for sock in bo_socks:
        assert await sock.drain(0.2) == [note], sock.name  # exactly once per socket (seen includes it)


async def test_nobody_is_notified_of_their_own_action(stack, people, team, sockets):
    amy, cy = people["amy"], people["cy"]
    me = await sockets(stack, 1, cy, "/ws/me/")
    board = await sockets(stack, 0, cy, f"/ws/workspaces/{team}/")
    before = {n["id"] for n in inbox(stack, cy)}
    task = create_task(stack, cy, team, title="mine, @cy", assigned_to=cy["id"])
    stack.api("PATCH", f"/api/workspaces/{team}/tasks/{task['id']}/", cy,
              {"version": task["version"], "status": "done", "description": "@cy done"}, worker=1, expect=200)
    # A change by someone else right after: it arrives, the own ones before it never did.
    create_task(stack, amy, team, worker=1, title="hey @cy")
    live = await me.notification()
    assert live["type"] == "mentioned" and "amy" in live["title"]
    assert (await board.notification())["id"] == live["id"]
    assert {n["id"] for n in inbox(stack, cy)} - before == {live["id"]}
    _, task_now = stack.api("GET", f"/api/workspaces/{team}/tasks/{task['id']}/", amy, expect=200)
    assert task_now["status"] == "done"
