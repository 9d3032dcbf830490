"""Real servers for cross-process tests: N Daphne workers of the product on a
fresh PostgreSQL database and Redis, each worker on its own free port.

    stack = start_stack(workers=2, env={"WS_IDLE_TIMEOUT": "5"})
    stack.http(0), stack.ws(1)           # base URLs of worker 0 / 1
    user = stack.register("alice")         # {id, username, token}
    stack.api("POST", "/api/workspaces/", user, {"name": "W"}, worker=1)
    stack.kill(0); stack.restart(0)        # kill -9 a worker, start it again on its port
    stack.close()                          # stop everything, drop the database and Redis keys

The database is created from a template migrated once per test process (a
copy takes ~2 s, `migrate` ~8 s); `drop_template()` removes it at the end.
Pytest fixtures wrapping this live in tests/integration/conftest.py.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PG_ADMIN = os.environ.get("IT_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0]
REDIS_URL = os.environ.get("IT_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "it-pass-word-4821"

# Limits raised so tests meet the limiter only where they mean to.
DEFAULT_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "WS_MESSAGES_PER_MINUTE": "100000",
    "WS_CONNECTS_PER_MINUTE": "100000",
    "WS_MAX_SOCKETS_PER_USER": "1000",
    "API_ANON_RATE": "100000/min",
    "API_USER_RATE": "100000/min",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}
# What would steer the workers elsewhere: a test run's database, prefixes, coverage hooks.
_INHERITED_DROP = ("DATABASE_URL", "DB_POOL", "REDIS_URL", "REDIS_KEY_PREFIX", "CACHE_PREFIX", "DJANGO_SETTINGS_MODULE",
                   "CHANNEL_LAYER_BACKEND", "PROMETHEUS_MULTIPROC_DIR", "SQLITE_PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _base_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in _INHERITED_DROP and not k.startswith(("COV_CORE", "COVERAGE", "PYTEST"))}


_template: str | None = None


def migrated_template() -> str:
    """A database with the current migrations, made once per process."""
    global _template
    if _template is None:
        name = f"collab_it_tpl_{uuid.uuid4().hex[:12]}"
        _pg(f'CREATE DATABASE "{name}"')
        try:
            subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                           env={**_base_env(), "SECRET_KEY": "it-migrate", "DATABASE_URL": f"{PG_BASE}/{name}",
                                "DB_POOL": "0"}, timeout=180)
        except BaseException:
            _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            raise
        _template = name
    return _template


def drop_template() -> None:
    global _template
    if _template is not None:
        _pg(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)')
        _template = None


class StackError(RuntimeError):
    pass


@dataclass
class Worker:
    index: int
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Stack:
    env: dict
    db_name: str
    prefix: str
    logdir: Path
    workers: list[Worker] = field(default_factory=list)

    # -- addresses ----------------------------------------------------------------
    def http(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.workers[i].port}"

    def ws(self, i: int = 0) -> str:
        return f"ws://127.0.0.1:{self.workers[i].port}"

    @property
    def db_url(self) -> str:
        return f"{PG_BASE}/{self.db_name}"

    # -- processes ------------------------------------------------------------------
    def _spawn(self, worker: Worker) -> None:
        log = open(worker.log_path, "ab")
        worker.proc = subprocess.Popen(
            [PY, "-m", "collab_project.daphne", "-b", "127.0.0.1", "-p", str(worker.port), "collab_project.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _wait_ready(self, worker: Worker, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.alive():
                raise StackError(f"worker {worker.index} exited:\n{self.log_tail(worker.index)}")
            try:
                with urllib.request.urlopen(f"{self.http(worker.index)}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise StackError(f"worker {worker.index} not ready in {timeout}s:\n{self.log_tail(worker.index)}")

    def kill(self, i: int) -> None:
        """kill -9: no clean close for its sockets, no teardown."""
        worker = self.workers[i]
        if worker.alive():
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait(10)

    def stop(self, i: int, timeout: float = 10) -> None:
        worker = self.workers[i]
        if worker.alive():
            worker.proc.terminate()
            try:
                worker.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait(10)

    def restart(self, i: int) -> None:
        """(Re)start worker i on its port and wait until it answers."""
        self.kill(i)
        self._spawn(self.workers[i])
        self._wait_ready(self.workers[i])

    def log_tail(self, i: int, lines: int = 40) -> str:
        try:
            return "\n".join(self.workers[i].log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        for i in range(len(self.workers)):
            try:
                self.stop(i, timeout=5)
            except Exception:  # noqa: BLE001 - keep tearing down
                pass
        try:
            _pg(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001
            print(f"warning: could not drop {self.db_name}: {exc}", file=sys.stderr)
        _flush_redis(self.prefix)

    # -- REST --------------------------------------------------------------------------
    def api(self, method: str, path: str, user: dict | None = None, body=None, *, worker: int = 0,
            headers: dict | None = None, expect: int | tuple | None = None):
        """One REST call; returns (status, decoded body). `expect` asserts the status."""
        request = urllib.request.Request(self.http(worker) + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if user is not None:
            request.add_header("Authorization", f"Bearer {user['token']}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        data = json.loads(raw) if raw else None
        if expect is not None:
            wanted = expect if isinstance(expect, tuple) else (expect,)
            if status not in wanted:
                raise AssertionError(f"{method} {path}: {status} {data!r}, expected {expect}")
        return status, data

    def register(self, username: str, *, worker: int = 0) -> dict:
        """A new user with an access token: {id, username, token}."""
        _, user = self.api("POST", "/api/auth/register/", None, {"username": username, "password": PASSWORD},
                           worker=worker, expect=201)
        _, pair = self.api("POST", "/api/auth/token/", None, {"username": username, "password": PASSWORD},
                           worker=worker, expect=200)
        return {**user, "token": pair["access"]}

    def workspace(self, owner: dict, members: dict[str, dict] | None = None, name: str = "W") -> str:
        """A workspace of `owner` with `members` ({role: user} or {username: (user, role)}) added."""
        _, ws = self.api("POST", "/api/workspaces/", owner, {"name": name}, expect=201)
        for key, value in (members or {}).items():
            user, role = value if isinstance(value, tuple) else (value, key)
            self.api("POST", f"/api/workspaces/{ws['id']}/members/", owner,
                     {"username": user["username"], "role": role}, expect=201)
        return ws["id"]


def _flush_redis(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    except redis.RedisError:
        pass
    finally:
        client.close()


def start_stack(workers: int = 2, env: dict | None = None, *, name: str = "it") -> Stack:
    """Start `workers` Daphne processes on a fresh database; close() undoes it all."""
    tag = f"{name}_{uuid.uuid4().hex[:10]}"
    db_name = f"collab_it_{tag}"
    prefix = f"it{tag}"
    _pg(f'CREATE DATABASE "{db_name}" TEMPLATE "{migrated_template()}"')
    full_env = {**_base_env(), **DEFAULT_ENV, "SECRET_KEY": f"it-{uuid.uuid4().hex}", "REDIS_URL": REDIS_URL,
                "DATABASE_URL": f"{PG_BASE}/{db_name}", "REDIS_KEY_PREFIX": prefix, "CACHE_PREFIX": prefix,
                **(env or {})}
    stack = Stack(env=full_env, db_name=db_name, prefix=prefix,
                  logdir=Path(tempfile.mkdtemp(prefix=f"collab_{tag}_")))
    try:
        for i in range(workers):
            worker = Worker(index=i, port=free_port(), log_path=stack.logdir / f"worker{i}.log")
            stack.workers.append(worker)
            stack._spawn(worker)
        for worker in stack.workers:
            stack._wait_ready(worker)
    except BaseException:
        stack.close()
        raise
    return stack


class WsClient:
    """A real WebSocket client (the `websockets` package) of one workspace.

    Remembers every event seq it was given, in arrival order, and the last one,
    so a reconnect asks `since` exactly what it saw."""

    def __init__(self, stack: Stack, user: dict, workspace_id: str, *, name: str = ""):
        self.stack, self.user, self.workspace_id, self.name = stack, user, workspace_id, name
        self.conn = None
        self.seqs: list[int] = []
        self.events: list[dict] = []
        self.others: list[dict] = []
        self.last_seq: int | None = None
        self.hello: dict | None = None

    async def connect(self, worker: int, *, since: int | None = None, resume: bool = False) -> dict:
        """Open on `worker`; `resume` asks since the last seq seen. Returns hello."""
        from websockets.asyncio.client import connect

        if resume:
            since = self.last_seq
        query = f"token={self.user['token']}" + (f"&since={since}" if since is not None else "")
        url = f"{self.stack.ws(worker)}/ws/workspaces/{self.workspace_id}/?{query}"
        self.conn = await connect(url, open_timeout=15, close_timeout=2, max_size=2 ** 20)
        self.hello = await self.recv(10)
        assert self.hello["type"] == "hello", self.hello
        if self.last_seq is None:
            self.last_seq = self.hello["seq"] if since is None else since
        return self.hello

    async def recv(self, timeout: float = 5) -> dict:
        import asyncio

        message = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        if "seq" in message and "ts" in message:
            self.seqs.append(message["seq"])
            self.events.append(message)
            self.last_seq = message["seq"]
        elif message["type"] != "hello":
            self.others.append(message)
        return message

    async def next_event(self, timeout: float = 5) -> dict:
        """The next workspace event, skipping presence, notifications, acks."""
        import asyncio

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"{self.name}: no event within {timeout}s (last {self.last_seq})")
            message = await self.recv(remaining)
            if "seq" in message and "ts" in message:
                return message

    async def events_until(self, seq: int, timeout: float = 15) -> None:
        """Read until the event `seq` has arrived (or time out)."""
        deadline = time.monotonic() + timeout
        while self.last_seq is None or self.last_seq < seq:
            await self.next_event(max(0.01, deadline - time.monotonic()))

    async def acks(self, count: int, timeout: float = 15) -> list[dict]:
        """Read until `count` acks have arrived (an ack may come before or after its event)."""
        deadline = time.monotonic() + timeout
        while len(received := [m for m in self.others if m["type"] == "ack"]) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: {len(received)} of {count} acks within {timeout}s")
            await self.recv(remaining)
        return received

    async def send(self, kind: str, data: dict | None = None, op_id: str | None = None) -> None:
        body = {"type": kind, "data": data or {}}
        if op_id is not None:
            body["op_id"] = op_id
        await self.conn.send(json.dumps(body))

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake (a client killed mid-stream)."""
        self.conn.transport.abort()

    async def close(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
