"""py-spy on a worker during a measured window, and a summary of where its
CPU went: by leaf function (self), by function anywhere on the stack
(inclusive), and by library (self time of the leaf's file)."""
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.stack import ROOT

BUCKETS = [
    ("channels_redis", "channels-redis layer"), ("msgpack", "msgpack"), ("/redis/", "redis-py"),
    ("autobahn", "autobahn (WebSocket frames)"), ("twisted", "Twisted reactor/transport"),
    ("daphne", "Daphne"), ("/channels/", "Channels consumer/dispatch"), ("asgiref", "asgiref"),
    ("django/db", "Django ORM"), ("psycopg", "psycopg"), ("rest_framework", "DRF"),
    ("/django/", "Django other"), ("asyncio", "asyncio event loop"), ("uvloop", "uvloop"),
    ("json", "JSON"), ("collab_project", "product: collab_project"), ("workspaces", "product: workspaces"),
    ("tasks/", "product: tasks"), ("presence", "product: presence"), ("notifications", "product: notifications"),
]
_LINE = re.compile(r":\d+\)$")


def _py_spy() -> str | None:
    local = ROOT / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, duration: float, base: Path):
    exe = _py_spy()
    if exe is None:
        print("py-spy not installed (pip install -r bench/requirements.txt); no profile", flush=True)
        return None
    base.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "-p", str(pid), "-d", str(max(1, int(duration))), "-r", "200", "-f", "raw",
           "-o", str(base.with_suffix(".txt")), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _bucket(frame: str) -> str:
    for needle, name in BUCKETS:
        if needle in frame:
            return name
    return "other"


def summarize(path: Path, top: int = 25) -> dict:
    self_fn, incl_fn, self_lib = Counter(), Counter(), Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")[1:]]  # drop the thread frame
        if not frames:
            continue
        total += n
        self_fn[frames[-1]] += n
        self_lib[_bucket(frames[-1])] += n
        for f in set(frames):
            incl_fn[f] += n

    def share(counter):
        return [(name, round(v / max(1, total) * 100, 1)) for name, v in counter.most_common(top)]

    return {"samples": total, "self_by_library": share(self_lib), "self": share(self_fn),
            "inclusive": share(incl_fn)}


def finish(proc, base: Path) -> dict:
    if proc is None:
        return {}
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": "py-spy timed out"}
    raw = base.with_suffix(".txt")
    if not raw.exists():
        return {"error": (err or b"").decode()[-500:]}
    summary = summarize(raw)
    summary["file"] = str(raw)
    return summary
