#!/usr/bin/env python3
"""Run WORKERS Daphne processes answering on one port (`make serve`).

The supervisor binds the listening socket once and hands it to every worker
with `daphne --fd`, so the kernel spreads connections over them; any worker
serves any socket (state is in PostgreSQL and Redis). It restarts a worker
that dies, and on SIGTERM/SIGINT stops them all cleanly: each Daphne closes
its sockets and the clients reconnect, with `since`, to the next process.

Workers share one Prometheus view through PROMETHEUS_MULTIPROC_DIR, which is
emptied at start (a fresh temporary directory unless one is given).
"""
import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from collab_project.logs import JsonFormatter  # noqa: E402  (no Django needed)

logger = logging.getLogger("collab.serve")

# A worker that dies sooner than this after starting counts as crash-looping.
QUICK_DEATH = 10.0
MAX_BACKOFF = 30.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or os.cpu_count() or 1))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"),
                        help="IPv4 address to listen on (default 0.0.0.0)")
    parser.add_argument("--app", default="collab_project.asgi:application")
    parser.add_argument("--grace", type=float, default=float(os.environ.get("SHUTDOWN_GRACE", 20)),
                        help="seconds workers get to stop before they are killed")
    parser.add_argument("--proxy-headers", action="store_true",
                        default=os.environ.get("PROXY_HEADERS", "") in {"1", "true", "yes"},
                        help="trust X-Forwarded-For (only behind a proxy that sets it)")
    parser.add_argument("--access-log", default=os.environ.get("ACCESS_LOG", ""),
                        help="Daphne's access log: a path or - for stdout (default off)")
    return parser.parse_args(argv)


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def metrics_dir() -> tuple[str, bool]:
    """A fresh multiprocess directory: the given one emptied, or a new temporary one."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return str(path), False
    return tempfile.mkdtemp(prefix="collab-metrics-"), True


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the supervisor itself dies (Linux),
    so no orphaned worker keeps serving on the port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    def __init__(self, args: argparse.Namespace, sock: socket.socket, prom_dir: str):
        self.args = args
        self.sock = sock
        self.prom_dir = prom_dir
        self.workers: dict[int, tuple[subprocess.Popen, float]] = {}  # slot -> (process, started)
        self.failures: dict[int, int] = {}
        self.due: dict[int, float] = {}  # slot -> when to restart it
        self.stopping = False

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "collab_project.daphne", "--fd", str(self.sock.fileno()), "-v", "0"]
        if self.args.proxy_headers:
            cmd.append("--proxy-headers")
        if self.args.access_log:
            cmd += ["--access-log", self.args.access_log]
        return cmd + [self.args.app]

    def spawn(self, slot: int) -> None:
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=self.prom_dir, SERVE_WORKER_SLOT=str(slot))
        env.setdefault("DJANGO_SETTINGS_MODULE", "collab_project.settings")
        # Own process group: a terminal's Ctrl-C reaches only the supervisor,
        # which stops the workers in order (SIGTERM, grace, SIGKILL).
        process = subprocess.Popen(self.command(), cwd=BASE_DIR, env=env, pass_fds=(self.sock.fileno(),),
                                   process_group=0, preexec_fn=_die_with_parent)
        self.workers[slot] = (process, time.monotonic())
        logger.info("worker started", extra={"slot": slot, "pid": process.pid})

    def reap(self) -> None:
        """Notice dead workers and schedule their restart (backing off on crash loops)."""
        from prometheus_client import multiprocess

        for slot, (process, started) in list(self.workers.items()):
            code = process.poll()
            if code is None:
                continue
            del self.workers[slot]
            # Its open-sockets gauge no longer counts; its counters still do.
            multiprocess.mark_process_dead(process.pid, self.prom_dir)
            if self.stopping:
                continue
            lived = time.monotonic() - started
            self.failures[slot] = self.failures.get(slot, 0) + 1 if lived < QUICK_DEATH else 0
            delay = min(MAX_BACKOFF, 0.5 * 2 ** self.failures[slot]) if self.failures[slot] else 0.0
            logger.error("worker died, restarting", extra={"slot": slot, "pid": process.pid, "exit_code": code,
                                                           "lived_s": round(lived, 1), "restart_in_s": delay})
            self.due[slot] = time.monotonic() + delay

    def run(self) -> int:
        for slot in range(self.args.workers):
            self.spawn(slot)
        while not self.stopping:
            time.sleep(0.2)
            self.reap()
            now = time.monotonic()
            for slot, when in list(self.due.items()):
                if when <= now and not self.stopping:
                    del self.due[slot]
                    self.spawn(slot)
        return self.shutdown()

    def stop(self, signum, frame) -> None:
        if not self.stopping:
            logger.info("stopping workers", extra={"signal": signal.Signals(signum).name})
        self.stopping = True

    def shutdown(self) -> int:
        for process, _ in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.args.grace
        for process, _ in list(self.workers.values()):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker did not stop in time, killing", extra={"pid": process.pid})
                process.kill()
                process.wait()
        self.reap()
        logger.info("all workers stopped")
        return 0


def load_dotenv(path: Path) -> None:
    """.env as settings.py reads it (the real environment wins), so the checks
    below see what the workers will."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def main(argv=None) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    load_dotenv(BASE_DIR / ".env")
    args = parse_args(argv)
    if args.workers < 1:
        logger.error("--workers must be at least 1")
        return 2
    if args.workers > 1 and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        # SQLite and the in-memory layer live in one process: a second worker
        # would neither see the first one's events nor share its limits.
        logger.error("several workers need PostgreSQL and Redis: set DATABASE_URL and REDIS_URL, or WORKERS=1")
        return 2
    sock = listen(args.host, args.port)
    prom_dir, owned = metrics_dir()
    supervisor = Supervisor(args, sock, prom_dir)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    logger.info("serving", extra={"host": args.host, "port": sock.getsockname()[1], "workers": args.workers,
                                  "metrics_dir": prom_dir})
    try:
        return supervisor.run()
    finally:
        sock.close()
        if owned:
            shutil.rmtree(prom_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
