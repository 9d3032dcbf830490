"""What a benchmark runs against: a fresh PostgreSQL database, Daphne workers
of the product (in one of several configurations), and the REST calls that
set up users, workspaces and memberships."""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def _admin_url() -> str:
    """The maintenance database of the server DATABASE_URL points at (or the local one)."""
    if os.environ.get("BENCH_PG_ADMIN_URL"):
        return os.environ["BENCH_PG_ADMIN_URL"]
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.rsplit("/", 1)[0] + "/postgres"
    return "postgresql://postgres@127.0.0.1:5432/postgres"


PG_ADMIN = _admin_url()
PG_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
PASSWORD = "bench-pass-7391"

# name -> environment overrides of the workers
CONFIGS = {
    # The product as shipped: per-worker fan-out on RedisPubSubChannelLayer,
    # events encoded once, Daphne on uvloop.
    "shipped": {},
    # What the Channels tutorial leads to: channels-redis' default layer with
    # its default capacity, every socket in the group on its own channel and
    # json.dumps-ing the event itself, Channels' dispatch (a database-thread hop
    # before every handler), Daphne on the standard asyncio loop.
    "tutorial": {"CHANNEL_LAYER_BACKEND": "core", "CHANNEL_CAPACITY": "100", "BROADCAST_ENCODE_ONCE": "0",
                 "BROADCAST_LOCAL_FANOUT": "0", "UVLOOP": "0", "BENCH_CHANNELS_DISPATCH": "1"},
    # One lever of the shipped product switched back, for the lever table.
    "core-layer": {"CHANNEL_LAYER_BACKEND": "core", "CHANNEL_CAPACITY": "100"},
    "encode-per-socket": {"BROADCAST_ENCODE_ONCE": "0"},
    "socket-groups": {"BROADCAST_LOCAL_FANOUT": "0"},
    "asyncio": {"UVLOOP": "0"},
    # Levers not shipped.
    "async-publish": {"BROADCAST_ASYNC_PUBLISH": "1"},
    "db-threads": {"BENCH_DB_THREADS": "1"},
}

# Limits raised so the run measures the broadcast path, not the limiter.
BENCH_ENV = {
    "WS_MESSAGES_PER_MINUTE": "100000000",
    "WS_CONNECTS_PER_MINUTE": "100000000",
    "WS_MAX_SOCKETS_PER_USER": "1000000",
    "API_ANON_RATE": "1000000/min",
    "API_USER_RATE": "1000000/min",
    "JWT_ACCESS_MINUTES": "720",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _clean_env() -> dict:
    """The caller's environment without what would steer the workers elsewhere
    (a test run's DATABASE_URL, pytest-cov's subprocess hooks, ...)."""
    drop = ("DATABASE_URL", "DB_POOL", "REDIS_URL", "REDIS_KEY_PREFIX", "CACHE_PREFIX", "DJANGO_SETTINGS_MODULE",
            "PROMETHEUS_MULTIPROC_DIR", "CHANNEL_LAYER_BACKEND", "CHANNEL_CAPACITY", "BROADCAST_ENCODE_ONCE",
            "BROADCAST_LOCAL_FANOUT", "BROADCAST_ASYNC_PUBLISH", "UVLOOP", "BENCH_CHANNELS_DISPATCH", "BENCH_DB_THREADS")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("COV_CORE", "COVERAGE"))}


class Database:
    """A fresh database with the product's migrations, dropped at close()."""

    def __init__(self, tag: str):
        self.name = f"collab_bench_{tag}"
        self.url = f"{PG_BASE}/{self.name}"

    def create(self, env: dict) -> None:
        _pg(f'CREATE DATABASE "{self.name}"')
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": self.url})

    def drop(self) -> None:
        try:
            _pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except Exception as exc:  # noqa: BLE001 - best effort at the end of a run
            print(f"warning: could not drop {self.name}: {exc}", file=sys.stderr)

    def backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)).fetchall()
        return [r[0] for r in rows]


class Workers:
    """`count` Daphne processes of the product in configuration `config`."""

    def __init__(self, *, config: str, db: Database, tag: str, secret: str, count: int = 2, logdir: Path,
                 extra_env: dict | None = None):
        overrides = CONFIGS[config]
        self.config = config
        self.env = {**_clean_env(), **BENCH_ENV, **overrides, **(extra_env or {}),
                    "SECRET_KEY": secret, "DATABASE_URL": db.url, "REDIS_URL": REDIS_URL,
                    "REDIS_KEY_PREFIX": f"bench{tag}{config}", "CACHE_PREFIX": f"bench{tag}{config}"}
        self.count = count
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def http(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i % len(self.ports)]}"

    def ws(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.ports[i % len(self.ports)]}"

    def start(self) -> None:
        for i in range(self.count):
            port = free_port()
            # As shipped (Makefile, scripts/serve.py); UVLOOP=0 in a config's overrides runs plain asyncio.
            cmd = [PY, "-m", "collab_project.daphne"]
            cmd += ["-b", "127.0.0.1", "-p", str(port), "bench.asgi:application"]
            log = open(self.logdir / f"worker-{self.config}-{i}-{port}.log", "ab")
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
            self.ports.append(port)
        for i in range(self.count):
            self._wait_ready(i)

    def _wait_ready(self, i: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise RuntimeError(f"worker {i} exited with {self.procs[i].returncode}; see {self.logdir}")
            try:
                status, _ = request("GET", self.http(i) + "/api/auth/me/")
                if status == 401:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker {i} not ready after {timeout}s")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs, self.ports = [], []


def request(method: str, url: str, body: dict | None = None, token: str | None = None,
            timeout: float = 30) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, None


def _ok(status: int, body, expected: tuple, what: str):
    if status not in expected:
        raise RuntimeError(f"{what}: HTTP {status} {body}")
    return body


class Population:
    """Users (with access tokens) and workspaces made through the REST API."""

    def __init__(self, workers: Workers, tag: str, threads: int = 8):
        self.workers = workers
        self.tag = tag
        self.threads = threads
        self.users: list[dict] = []  # {id, username, token}

    def _user(self, i: int) -> dict:
        base = self.workers.http(i)
        username = f"b{self.tag[:6]}u{i}"
        status, body = request("POST", base + "/api/auth/register/", {"username": username, "password": PASSWORD})
        body = _ok(status, body, (201,), "register")
        status, tokens = request("POST", base + "/api/auth/token/", {"username": username, "password": PASSWORD})
        tokens = _ok(status, tokens, (200,), "token")
        return {"id": body["id"], "username": username, "token": tokens["access"]}

    def ensure_users(self, n: int) -> None:
        start = len(self.users)
        if n <= start:
            return
        with ThreadPoolExecutor(self.threads) as pool:
            self.users += list(pool.map(self._user, range(start, n)))

    def workspace(self, owner: dict, members: list[dict], name: str) -> str:
        """A workspace owned by `owner` with `members` added directly (role member)."""
        base = self.workers.http(0)
        status, body = request("POST", base + "/api/workspaces/", {"name": name}, token=owner["token"])
        ws = _ok(status, body, (201,), "create workspace")["id"]

        def add(k_member):
            k, member = k_member
            st, b = request("POST", self.workers.http(k) + f"/api/workspaces/{ws}/members/",
                            {"username": member["username"], "role": "member"}, token=owner["token"])
            _ok(st, b, (201,), "add member")

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(add, enumerate(m for m in members if m["id"] != owner["id"])))
        return ws


def new_tag() -> str:
    return secrets.token_hex(4)
