"""`make serve` for real: scripts/serve.py with two Daphne workers sharing one
port on a fresh PostgreSQL database and Redis.

A socket on each worker sees the other's writes, /metrics gives one view of
both, a killed worker is replaced (and its client catches up with `since`),
and SIGTERM stops everything cleanly.
"""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from tests.integration.helpers import PY, ROOT, base_env, http, wait_for
from tests.integration.helpers import SocketClient as Client
from tests.integration.stack import PG_ADMIN, PG_BASE, free_port, migrated_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.integration]

def fresh_database() -> tuple[str, callable]:
    """A new collab_it_<hex> copied from the migrated template; returns its URL and a dropper."""
    import psycopg

    name = f"collab_it_serve_{uuid.uuid4().hex}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template()}"')

    def drop():
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_BASE}/{name}", drop


class Served:
    """scripts/serve.py running WORKERS Daphnes on a free port."""

    def __init__(self, database_url: str, redis_url: str, workers: int = 2, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_base = f"ws://127.0.0.1:{self.port}"
        self.env = dict(
            base_env(), DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="it-only-secret", DEBUG="0",
            REDIS_KEY_PREFIX=f"it{uuid.uuid4().hex[:10]}", CACHE_PREFIX=f"itc{uuid.uuid4().hex[:10]}",
            WS_CONNECTS_PER_MINUTE="1000", API_ANON_RATE="10000/min", API_USER_RATE="10000/min",
            LOG_LEVEL="INFO", **env,
        )
        self.log_path = Path(tempfile.mkstemp(prefix="collab-it-serve-", suffix=".log")[1])
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [PY, "scripts/serve.py", "--workers", str(workers), "--port", str(self.port), "--host", "127.0.0.1",
             "--grace", "10"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.workers = workers
        try:
            wait_for(lambda: len(self.worker_pids()) == workers and http(self.base, "GET", "/healthz")[0] == 200,
                     60, "the workers to answer")
        except AssertionError:
            self.stop()
            raise

    def worker_pids(self) -> set[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return {int(pid) for pid in out.stdout.split()}

    def metrics(self) -> dict:
        status, text = http(self.base, "GET", "/metrics")
        assert status == 200, text
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def user(self, name: str) -> tuple[int, str]:
        password = "a-long-pass-phrase-42"
        status, body = http(self.base, "POST", "/api/auth/register/", {"username": name, "password": password})
        assert status == 201, body
        status, tokens = http(self.base, "POST", "/api/auth/token/", {"username": name, "password": password})
        assert status == 200, tokens
        return body["id"], tokens["access"]

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        if self.log_path.exists():
            if os.environ.get("IT_SERVE_LOG"):
                shutil.copy(self.log_path, os.environ["IT_SERVE_LOG"])
            self.log_path.unlink()
        return self.process.returncode


def open_sockets_by_pid(samples: dict) -> dict[str, float]:
    return {dict(labels)["pid"]: v for (name, labels), v in samples.items() if name == "collab_ws_open_sockets"}


async def socket_on_new_worker(served: Served, ws: str, token: str, taken: set[str], tries=30) -> tuple:
    """Open sockets until one lands on a worker not in `taken` (per-pid gauge in /metrics)."""
    spare = []
    try:
        for _ in range(tries):
            before = open_sockets_by_pid(await asyncio.to_thread(served.metrics))
            client = await Client.open(served, ws, token)
            after = open_sockets_by_pid(await asyncio.to_thread(served.metrics))
            grown = [pid for pid, v in after.items() if v > before.get(pid, 0)]
            assert len(grown) == 1, (before, after)
            if grown[0] not in taken:
                return client, grown[0]
            spare.append(client)
        raise AssertionError(f"every socket landed on {taken}")
    finally:
        for client in spare:
            await client.close()


TOKENS: list[str] = []  # every access token the tests used, to look for in the logs


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served():
    from django.conf import settings

    url, drop = fresh_database()
    static_root = tempfile.mkdtemp(prefix="collab-it-static-")
    stack = None
    try:
        # As `make serve` does: collectstatic before the workers start (WhiteNoise indexes at start).
        env = dict(base_env(), SECRET_KEY="it-only-secret", DEBUG="0", STATIC_ROOT=static_root)
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                       timeout=120)
        stack = Served(url, settings.REDIS_URL, workers=2, STATIC_ROOT=static_root)
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        drop()
        shutil.rmtree(static_root, ignore_errors=True)


@pytest.fixture
def team(served):
    """An owner and a member of a new workspace: (ws, owner token, member token)."""
    suffix = uuid.uuid4().hex[:8]
    _, owner = served.user(f"own{suffix}")
    member_id, member = served.user(f"mem{suffix}")
    status, body = http(served.base, "POST", "/api/workspaces/", {"name": "Served"}, token=owner)
    assert status == 201, body
    ws = body["id"]
    status, body = http(served.base, "POST", f"/api/workspaces/{ws}/members/", {"username": f"mem{suffix}"},
                        token=owner)
    assert status == 201, body
    TOKENS.extend([owner, member])
    return ws, owner, member


# -- tests ------------------------------------------------------------------------------------
def test_workers_share_the_port_static_files_and_health(served):
    assert len(served.worker_pids()) == 2
    for path in ("/healthz", "/readyz"):
        status, body = http(served.base, "GET", path)
        assert status == 200 and body["status"] == "ok", body
    # WhiteNoise serves what collectstatic gathered (the admin's come with Django).
    status, body = http(served.base, "GET", "/static/admin/css/base.css")
    assert status == 200 and "body" in body


async def test_a_socket_on_each_worker_sees_the_others_writes(served, team):
    ws, owner, member = team
    first, pid_a = await socket_on_new_worker(served, ws, owner, set())
    second, pid_b = await socket_on_new_worker(served, ws, member, {pid_a})
    try:
        assert pid_a != pid_b
        await first.send("task.create", {"title": "from worker A"}, op_id="a1")
        await second.send("task.create", {"title": "from worker B"}, op_id="b1")
        seen_first = await first.events(2)
        seen_second = await second.events(2)
        seqs = [e["seq"] for e in seen_first]
        assert seqs == [e["seq"] for e in seen_second] and seqs[1] == seqs[0] + 1
        assert {e["data"]["title"] for e in seen_first} == {"from worker A", "from worker B"}
    finally:
        await first.close()
        await second.close()


async def test_metrics_are_one_view_of_all_workers(served, team):
    ws, owner, member = team
    before = await asyncio.to_thread(served.metrics)
    a, pid_a = await socket_on_new_worker(served, ws, owner, set())
    b, pid_b = await socket_on_new_worker(served, ws, member, {pid_a})
    await a.send("task.create", {"title": "counted"})
    await b.send("heartbeat", None)
    await a.events(1)
    await b.next("heartbeat.ack")
    # Several scrapes, answered by whichever worker the kernel picks, agree.
    views = [await asyncio.to_thread(served.metrics) for _ in range(4)]
    await a.close()
    await b.close()

    def delta(samples, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return samples.get(key, 0.0) - before.get(key, 0.0)

    for view in views:
        assert open_sockets_by_pid(view)[pid_a] >= 1 and open_sockets_by_pid(view)[pid_b] >= 1
        assert delta(view, "collab_ws_connects_total") >= 2
        assert delta(view, "collab_ws_messages_in_total", type="task.create") == 1
        assert delta(view, "collab_ws_messages_in_total", type="heartbeat") == 1
        assert delta(view, "collab_events_published_total", type="task.created") == 1
        assert delta(view, "collab_event_broadcast_latency_seconds_count") == 1
        assert view[("collab_dependency_up", (("dependency", "redis"),))] == 1.0
    assert len({pid for view in views for pid in open_sockets_by_pid(view)}) == 2
    after = wait_for(lambda: (lambda s: s if sum(open_sockets_by_pid(s).values())
                              == sum(open_sockets_by_pid(before).values()) else None)(served.metrics()),
                     10, "the sockets to close in the gauge")
    assert delta(after, "collab_ws_disconnects_total") >= 2


async def test_a_killed_worker_is_replaced_and_its_client_catches_up(served, team):
    ws, owner, member = team
    victim_client, victim_pid = await socket_on_new_worker(served, ws, owner, set())
    other_client, _ = await socket_on_new_worker(served, ws, member, {victim_pid})
    try:
        await other_client.send("task.create", {"title": "before the crash"})
        delivered = (await victim_client.events(1))[0]["seq"]
        os.kill(int(victim_pid), signal.SIGKILL)
        wait_for(lambda: int(victim_pid) not in served.worker_pids() and len(served.worker_pids()) == 2,
                 30, "the supervisor to replace the worker")
        with pytest.raises(ConnectionClosed):
            await victim_client.next("task.created", timeout=5)
        # Written while the client was away: reconnecting with `since` misses nothing.
        for n in range(3):
            await other_client.send("task.create", {"title": f"while away {n}"})
        await other_client.events(4)
        back = await Client.open(served, ws, owner, since=delivered)
        caught_up = await back.events(3)
        assert [e["seq"] for e in caught_up] == [delivered + 1, delivered + 2, delivered + 3]
        await back.close()
        # The dead worker's sockets no longer count.
        assert victim_pid not in open_sockets_by_pid(served.metrics())
    finally:
        await other_client.close()
        await victim_client.close()


def test_worker_logs_are_json_with_context_and_never_a_token(served, team):
    ws, owner, _ = team
    status, _ = http(served.base, "POST", f"/api/workspaces/{ws}/tasks/", {"title": "logged"}, token=owner)
    assert status == 201

    def lines():
        return [json.loads(line) for line in served.log_path.read_text().splitlines() if line.startswith("{")]

    wait_for(lambda: any(line["msg"] == "write" and line.get("workspace") == ws for line in lines()), 10,
             "the write line")
    text = served.log_path.read_text()
    assert TOKENS and not any(token in text or token.split(".")[1] in text for token in TOKENS)
    logged = lines()
    # Both workers log, each line naming its own pid.
    assert len({line["worker"] for line in logged if line["logger"] != "collab.serve"}) >= 2
    for msg in ("socket connected", "socket disconnected", "write"):
        found = [line for line in logged if line["msg"] == msg]
        assert found, msg
        assert all(line.get("workspace") and line.get("user") and line.get("worker") for line in found), found[0]


def test_sigterm_stops_every_worker_cleanly(served):
    # Runs last in this module: it stops the shared stack.
    pids = served.worker_pids()
    assert served.stop() == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert http(served.base, "GET", "/healthz", timeout=2)[0] is None
