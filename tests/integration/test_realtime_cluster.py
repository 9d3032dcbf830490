"""The delivery guarantee across real processes: two Daphne workers on
PostgreSQL and Redis, real WebSocket clients. Each socket gets every event of
its workspace once, in seq order, whichever worker committed it, across
client reconnects and a worker killed with SIGKILL."""
import asyncio
import time
import uuid

import pytest

from tests.integration.stack import WsClient, start_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]


@pytest.fixture(scope="module")
def stack():
    started = start_stack(workers=2, name="rt")
    yield started
    started.close()


@pytest.fixture(scope="module")
def people(stack):
    return {name: stack.register(name, worker=i % 2) for i, name in enumerate(("ann", "ben", "cat"))}


@pytest.fixture
def team(stack, people):
    """A fresh workspace: ann owner, ben and cat members."""
    return stack.workspace(people["ann"], {"ben": (people["ben"], "member"), "cat": (people["cat"], "member")},
                           name=f"W{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def clients():
    opened = []

    def make(*args, **kwargs):
        opened.append(WsClient(*args, **kwargs))
        return opened[-1]

    yield make
    await asyncio.gather(*(c.close() for c in opened))


def assert_exactly(client, first: int, last: int):
    assert client.seqs == list(range(first, last + 1)), (client.name, client.seqs)


def logged(stack, user, ws, since):
    _, page = stack.api("GET", f"/api/workspaces/{ws}/events/?since={since}&limit=1000", user, expect=200)
    return page["results"]


async def test_writes_on_one_worker_reach_sockets_on_the_other(stack, people, team, clients):
    ann, ben = people["ann"], people["ben"]
    writer = clients(stack, ann, team, name="writer@0")
    hello = await writer.connect(0)
    readers = [clients(stack, ben, team, name="ben@1"), clients(stack, ann, team, name="ann@1")]
    for reader in readers:
        assert (await reader.connect(1))["seq"] == hello["seq"]
    start = hello["seq"]
    await writer.send("task.create", {"title": "over the socket"}, op_id=uuid.uuid4().hex)
    stack.api("POST", f"/api/workspaces/{team}/tasks/", ann, {"title": "over REST"}, worker=0, expect=201)
    for client in [writer, *readers]:
        await client.events_until(start + 2)
        assert_exactly(client, start + 1, start + 2)
    ack, = await writer.acks(1)
    assert ack["seq"] == start + 1 and ack["data"]["title"] == "over the socket"
    log = logged(stack, ben, team, start)
    for client in [writer, *readers]:
        assert client.events == log  # the same event, byte for byte as the log has it
    assert [e["data"]["title"] for e in log] == ["over the socket", "over REST"]


async def test_client_dropped_mid_stream_resumes_with_since(stack, people, team, clients):
    ann, cat = people["ann"], people["cat"]
    reader = clients(stack, cat, team, name="cat")
    start = (await reader.connect(1))["seq"]
    for i in range(2):
        stack.api("POST", f"/api/workspaces/{team}/tasks/", ann, {"title": f"seen {i}"}, worker=0, expect=201)
    await reader.events_until(start + 2)
    reader.abort()
    for i in range(3):
        stack.api("POST", f"/api/workspaces/{team}/tasks/", ann, {"title": f"missed {i}"}, worker=i % 2,
                  expect=201)
    await reader.connect(0, resume=True)
    await reader.events_until(start + 5)
    stack.api("POST", f"/api/workspaces/{team}/tasks/", ann, {"title": "live"}, worker=1, expect=201)
    await reader.events_until(start + 6)
    assert_exactly(reader, start + 1, start + 6)
    assert [e["data"]["title"] for e in reader.events[2:5]] == ["missed 0", "missed 1", "missed 2"]
    with pytest.raises(asyncio.TimeoutError):
        await reader.next_event(timeout=0.5)


async def test_writers_on_both_workers_every_socket_sees_one_order(stack, people, team, clients):
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    writers = [clients(stack, ann, team, name="w0"), clients(stack, ben, team, name="w1")]
    watchers = [clients(stack, cat, team, name=f"cat@{i % 2}") for i in range(4)]
    start = (await writers[0].connect(0))["seq"]
    await writers[1].connect(1, since=start)
    for i, watcher in enumerate(watchers):
        await watcher.connect(i % 2, since=start)
    per_writer = 12

    async def write(client, tag):
        for i in range(per_writer):
            await client.send("task.create", {"title": f"{tag}{i}"}, op_id=uuid.uuid4().hex)

    async def rest_writes():
        for i in range(4):
            await asyncio.to_thread(stack.api, "POST", f"/api/workspaces/{team}/tasks/", cat, {"title": f"r{i}"},
                                    worker=i % 2, expect=201)

    await asyncio.gather(write(writers[0], "a"), write(writers[1], "b"), rest_writes())
    last = start + 2 * per_writer + 4
    for client in [*writers, *watchers]:
        await client.events_until(last, timeout=30)
        assert_exactly(client, start + 1, last)
    titles = [e["data"]["title"] for e in writers[0].events]
    assert all(w.events == writers[0].events for w in [writers[1], *watchers])
    assert sorted(titles) == sorted([f"a{i}" for i in range(per_writer)] + [f"b{i}" for i in range(per_writer)]
                                    + [f"r{i}" for i in range(4)])
    acks = [ack for w in writers for ack in await w.acks(per_writer)]
    assert sorted(a["seq"] for a in acks) == sorted(e["seq"] for e in writers[0].events if e["op_id"])


async def test_idle_socket_still_receives_after_six_quiet_seconds(stack, people, team, clients):
    ann, ben = people["ann"], people["ben"]
    idle = clients(stack, ben, team, name="idle")
    start = (await idle.connect(1))["seq"]
    # Nothing may arrive for 6 s: past redis-py's 5 s socket timeout on a quiet layer connection.
    with pytest.raises(asyncio.TimeoutError):
        await idle.next_event(timeout=6)
    stack.api("POST", f"/api/workspaces/{team}/tasks/", ann, {"title": "after the quiet"}, worker=0, expect=201)
    event = await idle.next_event(timeout=5)
    assert event["seq"] == start + 1 and event["data"]["title"] == "after the quiet"


async def test_sigkill_of_a_worker_loses_and_duplicates_nothing(stack, people, team, clients):
    """Last in the module: it leaves worker 0 dead."""
    ann, ben, cat = people["ann"], people["ben"], people["cat"]
    victims = [clients(stack, u, team, name=f"{u['username']}@0") for u in (ben, cat, ben)]
    survivors = [clients(stack, u, team, name=f"{u['username']}@1") for u in (cat, ann)]
    start = (await survivors[0].connect(1))["seq"]
    await survivors[1].connect(1, since=start)
    for victim in victims:
        await victim.connect(0, since=start)
    total, killed_at = 30, 10
    done = asyncio.Event()

    async def writer():
        for i in range(total):
            await asyncio.to_thread(stack.api, "POST", f"/api/workspaces/{team}/tasks/", ann, {"title": f"k{i}"},
                                    worker=1, expect=201)
            if i == killed_at:
                await asyncio.to_thread(stack.kill, 0)
        done.set()

    async def follow(client):
        """Read until the last event; on a dead connection, resume on worker 1 with since."""
        from websockets.exceptions import ConnectionClosed

        reconnects = 0
        deadline = time.monotonic() + 40
        while client.last_seq < start + total:
            assert time.monotonic() < deadline, (client.name, client.seqs)
            try:
                await client.next_event(timeout=10)
            except ConnectionClosed:
                reconnects += 1
                await client.connect(1, resume=True)
        return reconnects

    results = await asyncio.gather(writer(), *(follow(c) for c in [*victims, *survivors]))
    assert done.is_set()
    reconnects = results[1:]
    assert all(r >= 1 for r in reconnects[:3]) and reconnects[3:] == [0, 0], reconnects
    for client in [*victims, *survivors]:
        assert_exactly(client, start + 1, start + total)
    delivered = sum(len(c.seqs) for c in [*victims, *survivors])
    assert delivered == 5 * total  # counted over all clients: none lost, none twice
    for client in [*victims, *survivors]:
        with pytest.raises(asyncio.TimeoutError):
            await client.next_event(timeout=0.3)
