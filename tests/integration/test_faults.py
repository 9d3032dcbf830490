"""Faults, driven for real against scripts/serve.py with two workers.

The stack gets a Redis server of its own (stopped and started by the tests)
and reaches PostgreSQL through a TCP proxy in this file (cut and restored by
the tests); the machine's own services keep running untouched.
"""
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import PY, ROOT, base_env, http, wait_for
from tests.integration.helpers import SocketClient as Client
from tests.integration.stack import PG_ADMIN, PG_BASE, free_port, migrated_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]

REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """redis-server of the test's own on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 10, "redis-server to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class TcpProxy:
    """A TCP forwarder in front of PostgreSQL that the test cuts and restores.

    Cut: every open connection is reset and new ones are closed on arrival,
    which is what workers see when the database host goes away.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target_port, self.target_host = target_port, target_host
        self.port = free_port()
        self.is_cut = False
        self.pairs: set = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._call(asyncio.start_server(self._handle, "127.0.0.1", self.port))

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _handle(self, reader, writer):
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self.pairs.add(pair)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.pairs.discard(pair)

    async def _cut(self):
        self.is_cut = True
        for client, upstream in list(self.pairs):
            client.transport.abort()
            upstream.transport.abort()

    def cut(self):
        self._call(self._cut())

    def restore(self):
        self.is_cut = False

    def close(self):
        async def shutdown():
            await self._cut()
            self.server.close()

        self._call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def stack():
    """Two workers on a fresh database reached through the proxy, and their own Redis."""
    import psycopg

    if REDIS_SERVER is None:
        pytest.skip("needs redis-server on PATH")
    pg = urlparse(PG_BASE)
    credentials = pg.netloc.rsplit("@", 1)[0] + "@" if "@" in pg.netloc else ""
    name = f"collab_it_faults_{uuid.uuid4().hex}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template()}"')
    redis = proxy = process = log = None
    try:
        worker_env = dict(base_env(), SECRET_KEY="it-only-secret", DEBUG="0")
        redis = RedisServer()
        proxy = TcpProxy(pg.port or 5432, pg.hostname or "127.0.0.1")
        port = free_port()
        env = dict(
            worker_env, DATABASE_URL=f"{pg.scheme}://{credentials}127.0.0.1:{proxy.port}/{name}", REDIS_URL=redis.url,
            REDIS_KEY_PREFIX=f"it{uuid.uuid4().hex[:10]}", WS_CONNECTS_PER_MINUTE="1000",
            API_ANON_RATE="10000/min", API_USER_RATE="10000/min", LOG_LEVEL="WARNING",
            DB_POOL_TIMEOUT="3", DB_CONNECT_TIMEOUT="2", READY_CHECK_TIMEOUT="2",
        )
        log = open(os.environ.get("IT_SERVE_LOG", os.devnull), "a")
        process = subprocess.Popen(
            [PY, "scripts/serve.py", "--workers", "2", "--port", str(port), "--host", "127.0.0.1", "--grace", "10"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http(base, "GET", "/readyz")[0] == 200, 60, "the workers to be ready")
        yield type("Stack", (), {"base": base, "ws_base": f"ws://127.0.0.1:{port}", "redis": redis, "proxy": proxy})
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if log is not None:
            log.close()
        if proxy is not None:
            proxy.close()
        if redis is not None:
            redis.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _past_the_outage(call):
    """`call()` -> (status, body), repeated while it answers 503: after the previous
    test's outage a worker's pool may still be reconnecting for a few seconds (it heals
    by itself; a 503 wrote nothing, so repeating is safe)."""
    replies = []

    def answered():
        replies.append(call())
        return replies[-1][0] != 503

    wait_for(answered, 30, "an answer other than 503")
    return replies[-1]


@pytest.fixture
def team(stack):
    """A workspace with its owner's token: (ws, token)."""
    name, password = f"f{uuid.uuid4().hex[:10]}", "a-long-pass-phrase-42"
    status, body = _past_the_outage(lambda: http(stack.base, "POST", "/api/auth/register/",
                                                 {"username": name, "password": password}))
    assert status == 201, body
    status, tokens = _past_the_outage(lambda: http(stack.base, "POST", "/api/auth/token/",
                                                   {"username": name, "password": password}))
    assert status == 200, tokens
    status, body = _past_the_outage(lambda: http(stack.base, "POST", "/api/workspaces/", {"name": "Faults"},
                                                 token=tokens["access"], headers={"Idempotency-Key": name}))
    assert status == 201, body
    return body["id"], tokens["access"]


@pytest.fixture(autouse=True)
def _services_restored(stack):
    yield
    stack.proxy.restore()
    if stack.redis.process.poll() is not None:
        stack.redis.start()


def metric(base: str, name: str, **labels) -> float:
    status, text = http(base, "GET", "/metrics")
    assert status == 200, text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def create_task(stack, ws, token, title):
    return http(stack.base, "POST", f"/api/workspaces/{ws}/tasks/", {"title": title}, token=token)


# -- Redis -------------------------------------------------------------------------------
def test_readyz_and_http_follow_redis(stack, team):
    ws, token = team
    failures_before = metric(stack.base, "collab_channel_layer_failures_total", op="group_send")
    stack.redis.stop()
    status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(http(stack.base, "GET", "/readyz")),
                            15, "/readyz to notice Redis is gone")
    assert body["failed"] == ["redis"] and body["checks"]["database"] == "ok", body
    # HTTP keeps working: health, reads, and writes (their events wait in the log).
    assert http(stack.base, "GET", "/healthz")[0] == 200
    assert http(stack.base, "GET", "/api/workspaces/", token=token)[0] == 200
    status, task = create_task(stack, ws, token, "written while Redis is down")
    assert status == 201, task
    assert metric(stack.base, "collab_dependency_up", dependency="redis") == 0.0
    assert metric(stack.base, "collab_channel_layer_failures_total", op="group_send") >= failures_before + 1

    stack.redis.start()
    status, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(http(stack.base, "GET", "/readyz")),
                            15, "/readyz to see Redis again")
    assert body["checks"] == {"database": "ok", "redis": "ok"}


async def test_sockets_recover_after_a_redis_restart(stack, team):
    ws, token = team
    stayer = await Client.open(stack, ws, token)
    leaver = await Client.open(stack, ws, token)
    try:
        status, first = await asyncio.to_thread(create_task, stack, ws, token, "before")
        assert status == 201
        await stayer.until_seq(1)
        await leaver.until_seq(1)
        await leaver.conn.close()  # a client that drops off and comes back later

        await asyncio.to_thread(stack.redis.stop)
        for n in range(2):
            status, _ = await asyncio.to_thread(create_task, stack, ws, token, f"during outage {n}")
            assert status == 201
        await asyncio.to_thread(stack.redis.start)

        # Events flow again by themselves: keep writing until one arrives live,
        # and the ones the layer lost are filled in from the log, in order.
        deadline = time.monotonic() + 30
        while True:
            status, task = await asyncio.to_thread(create_task, stack, ws, token, "after")
            assert status == 201, task
            try:
                await stayer.until_seq(stayer.seqs[-1] + 1, timeout=2)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "no event reached the socket after Redis came back"
        status, log = await asyncio.to_thread(http, stack.base, "GET", f"/api/workspaces/{ws}/events/?since=0",
                                              None, token)
        last = log["results"][-1]["seq"]
        await stayer.until_seq(last)
        assert stayer.seqs == list(range(1, last + 1))

        back = await Client.open(stack, ws, token, since=1)
        await back.until_seq(last)
        assert back.seqs == list(range(2, last + 1))
        await back.conn.close()
    finally:
        await stayer.conn.close()


# -- PostgreSQL ------------------------------------------------------------------------------
async def test_a_database_outage_refuses_writes_cleanly_and_heals(stack, team):
    ws, token = team
    sock = await Client.open(stack, ws, token)
    try:
        status, _ = await asyncio.to_thread(create_task, stack, ws, token, "before the outage")
        assert status == 201
        await sock.until_seq(1)

        await asyncio.to_thread(stack.proxy.cut)
        status, body = await asyncio.to_thread(create_task, stack, ws, token, "lost to the outage")
        assert status == 503 and body["code"] == "unavailable", (status, body)
        await sock.send("task.create", {"title": "also lost"}, op_id="outage-1")
        error = await sock.next("error", timeout=15)
        assert error["code"] == "unavailable" and error["op_id"] == "outage-1"
        status, body = await asyncio.to_thread(http, stack.base, "GET", "/readyz")
        assert status == 503 and body["failed"] == ["database"], body
        # The socket is still open and answering.
        await sock.send("presence.update", {"status": "idle", "viewing": None})
        await sock.send("task.create", {"title": "still refused"}, op_id="outage-2")
        assert (await sock.next("error", timeout=15))["op_id"] == "outage-2"

        stack.proxy.restore()
        # Service resumes by itself: the same op_id now goes through, once.
        deadline = time.monotonic() + 30
        while True:
            await sock.send("task.create", {"title": "after the outage"}, op_id="outage-3")
            reply = await sock.next("ack", "error", timeout=15)
            if reply["type"] == "ack":
                break
            assert reply["code"] == "unavailable" and time.monotonic() < deadline, reply
        assert reply["seq"] == 2
        await sock.until_seq(2)
        status, body = await asyncio.to_thread(create_task, stack, ws, token, "and over REST")
        assert status == 201, body
        await sock.until_seq(3)

        # Nothing half-written: the log and the tasks hold exactly the acknowledged writes.
        # Each worker's pool reconnects on its own backoff, so a read landing on the other
        # worker may still hear 503 for a few seconds: it must turn 200 by itself.
        def read_until_ok(path):
            replies = []

            def ok():
                replies.append(http(stack.base, "GET", path, None, token))
                assert replies[-1][0] in (200, 503), replies[-1]
                return replies[-1][0] == 200

            wait_for(ok, 30, f"GET {path} answering 200 again")
            return replies[-1][1]

        log = await asyncio.to_thread(read_until_ok, f"/api/workspaces/{ws}/events/?since=0")
        assert [e["seq"] for e in log["results"]] == [1, 2, 3]
        tasks = await asyncio.to_thread(read_until_ok, f"/api/workspaces/{ws}/tasks/")
        assert sorted(t["title"] for t in tasks["results"]) == ["after the outage", "and over REST",
                                                               "before the outage"]
        assert sock.seqs == [1, 2, 3]
        # /readyz too may land on a worker whose pool still holds a broken connection.
        ready = []
        await asyncio.to_thread(wait_for, lambda: ready.append(http(stack.base, "GET", "/readyz")) or
                                ready[-1][0] == 200, 30, "/readyz answering 200 again")
        assert ready[-1] == (200, {"status": "ok", "checks": {"database": "ok", "redis": "ok"}})
        assert all(status in (200, 503) for status, _ in ready), ready
    finally:
        await sock.conn.close()


def test_writes_cut_mid_flight_are_whole_and_a_retry_applies_them_once(stack, team):
    """Writes in flight when the database goes away either commit whole or not
    at all; retried with their Idempotency-Key they end up applied exactly once
    (including one whose commit went through but whose answer was lost)."""
    ws, token = team
    count = 30

    def write(n):
        return http(stack.base, "POST", f"/api/workspaces/{ws}/tasks/", {"title": f"w{n}"}, token=token,
                    headers={"Idempotency-Key": f"cut-{ws}-{n}"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(write, n) for n in range(count)]
        # Cut as soon as two are through (writes take milliseconds: poll tightly).
        wait_for(lambda: sum(f.done() for f in futures) >= 2, 30, "the first writes to finish", interval=0.002)
        stack.proxy.cut()
        first = [f.result() for f in futures]
    assert any(status == 201 for status, _ in first)
    assert all(status in (201, 503) for status, _ in first), first
    assert any(status == 503 for status, _ in first), "the cut came too late to catch a write in flight"
    stack.proxy.restore()

    answers = {}
    deadline = time.monotonic() + 40
    for n, (status, body) in enumerate(first):
        while status != 201:
            assert status == 503 and time.monotonic() < deadline, (status, body)
            status, body = write(n)
        answers[n] = body
        if first[n][0] == 201:
            assert first[n][1]["id"] == body["id"]
    status, tasks = http(stack.base, "GET", f"/api/workspaces/{ws}/tasks/", token=token)
    assert sorted(t["title"] for t in tasks["results"]) == sorted(f"w{n}" for n in range(count))
    assert {t["id"] for t in tasks["results"]} == {answers[n]["id"] for n in range(count)}
    status, log = http(stack.base, "GET", f"/api/workspaces/{ws}/events/?since=0", token=token)
    assert [e["seq"] for e in log["results"]] == list(range(1, count + 1))
    assert sorted(e["data"]["id"] for e in log["results"]) == sorted(t["id"] for t in tasks["results"])
