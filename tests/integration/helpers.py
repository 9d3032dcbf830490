"""Small helpers shared by the integration tests that run server processes."""
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

# Workers take their settings from the stack's environment, not from this test run's.
DROPPED = ("DATABASE_URL", "DB_POOL", "REDIS_URL", "REDIS_KEY_PREFIX", "CACHE_PREFIX", "PROMETHEUS_MULTIPROC_DIR",
           "DJANGO_SETTINGS_MODULE", "CHANNEL_LAYER_BACKEND", "SQLITE_PATH")


def base_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in DROPPED and not k.startswith(("COV_CORE", "COVERAGE", "PYTEST"))}


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http(base: str, method: str, path: str, body=None, token=None, timeout=15.0, headers=None):
    """(status, parsed JSON or text) of one request; never raises on an HTTP status.
    (None, None) when the server does not answer at all."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    except OSError:
        return None, None
    return status, (json.loads(raw) if "json" in ctype and raw else raw.decode(errors="replace"))


class SocketClient:
    """A websockets client on a workspace socket, with the waits the tests need,
    each with a timeout. `seqs` records the task events' seqs in arrival order."""

    def __init__(self, conn):
        self.conn = conn
        self.seqs: list[int] = []

    @classmethod
    async def open(cls, server, ws: str, token: str, since: int | None = None):
        """Connect to `server.ws_base` and wait for hello; the first attempt must work,
        right after a Redis restart too (stale pooled Redis connections are retried)."""
        from websockets.asyncio.client import connect

        query = f"?token={token}" + (f"&since={since}" if since is not None else "")
        client = cls(await connect(f"{server.ws_base}/ws/workspaces/{ws}/{query}", open_timeout=10))
        client.hello = await client.next("hello")
        return client

    async def next(self, *kinds, timeout=10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kinds} within {timeout}s")
            msg = json.loads(await asyncio.wait_for(self.conn.recv(), left))
            if "seq" in msg and msg["type"].startswith("task."):
                self.seqs.append(msg["seq"])
            if msg["type"] in kinds:
                return msg

    async def events(self, n: int, timeout=10.0) -> list[dict]:
        return [await self.next("task.created", "task.updated", "task.deleted", timeout=timeout) for _ in range(n)]

    async def until_seq(self, seq: int, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.seqs or self.seqs[-1] < seq:
            await self.next("task.created", timeout=max(0.01, deadline - time.monotonic()))

    async def send(self, kind, data, op_id=None):
        await self.conn.send(json.dumps({"type": kind, "op_id": op_id, "data": data}))

    async def close(self):
        await self.conn.close()
