"""Where a worker's memory per open socket goes.

Starts one Daphne worker of the product (a configuration of bench/stack.py)
under tracemalloc on a fresh database, opens --sockets sockets to one
workspace, and prints the allocations the sockets added, per socket, by the
file that allocated them. A diagnosis, not a measurement of RSS (that is the
`idle` scenario of bench/run.py); tracemalloc itself slows the worker.

    .venv/bin/python bench/memprobe.py --sockets 1000 --config shipped
"""
import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import BENCH_ENV, CONFIGS, PY, REDIS_URL, ROOT, Database, _clean_env, free_port  # noqa: E402

# Runs inside the worker: snapshot on SIGUSR1; the second one writes the difference.
WORKER = r"""
import json, signal, sys, tracemalloc
tracemalloc.start(1)
port, out, snaps = sys.argv[1], sys.argv[2], []
def dump(*_):
    snaps.append(tracemalloc.take_snapshot())
    if len(snaps) == 2:
        stats = snaps[1].compare_to(snaps[0], "filename")
        rows = [(s.traceback[0].filename, s.size_diff, s.count_diff) for s in stats if s.size_diff > 0]
        with open(out, "w") as f:
            json.dump(rows, f)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["daphne", "-b", "127.0.0.1", "-p", port, "bench.asgi:application"]
from collab_project.daphne import main
sys.exit(main())
"""

SETUP = r"""
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken
from workspaces import services
user = get_user_model().objects.create(username="probe")
ws = services.workspace_create(actor=user, name="Probe").data["id"]
print(ws, AccessToken.for_user(user))
"""


async def _open(port: int, ws: str, token: str):
    import websockets

    conn = await websockets.connect(f"ws://127.0.0.1:{port}/ws/workspaces/{ws}/?token={token}", open_timeout=30)
    await asyncio.wait_for(conn.recv(), 30)  # hello
    return conn


async def _probe(port: int, ws: str, token: str, sockets: int, pid: int, out: Path) -> list:
    warm = [await _open(port, ws, token) for _ in range(20)]  # first-connect caches out of the diff
    os.kill(pid, signal.SIGUSR1)
    opened = []
    for start in range(0, sockets, 100):
        opened += await asyncio.gather(*(_open(port, ws, token) for _ in range(min(100, sockets - start))))
    await asyncio.sleep(2)  # let the connect-time work (presence broadcasts) finish before the snapshot
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not out.exists() or not out.stat().st_size:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker wrote no snapshot difference")
        await asyncio.sleep(0.5)
    await asyncio.gather(*(c.close() for c in warm + opened))
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--config", default="shipped", choices=list(CONFIGS))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    tag = secrets.token_hex(4)
    db = Database(f"mem{tag}")
    env = {**_clean_env(), **BENCH_ENV, **CONFIGS[args.config], "SECRET_KEY": secrets.token_urlsafe(40),
           "DATABASE_URL": db.url, "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": f"benchmem{tag}",
           "LOG_LEVEL": "WARNING"}
    db.create(env)
    worker = None
    try:
        ws, token = subprocess.run([PY, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                                   capture_output=True, text=True).stdout.split()[-2:]
        port, out = free_port(), Path(tempfile.mkdtemp(prefix="memprobe-")) / "diff.json"
        worker = subprocess.Popen([PY, "-c", WORKER, str(port), str(out)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(out.parent / "worker.log", "wb"))
        deadline = time.monotonic() + 60
        while True:
            try:
                rows = asyncio.run(_probe(port, ws, token, args.sockets, worker.pid, out))
                break
            except OSError:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise
                time.sleep(0.5)
        total = sum(size for _, size, _ in rows)
        print(f"{args.config}: {args.sockets} sockets, {total / args.sockets / 1024:.1f} KB per socket traced "
              f"(Python allocations only; RSS per socket is larger)")
        for name, size, count in sorted(rows, key=lambda r: -r[1])[:args.top]:
            short = name.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"{size / args.sockets / 1024:7.2f} KB {count / args.sockets:6.1f} objects  {short}")
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        db.drop()


if __name__ == "__main__":
    sys.exit(main())
