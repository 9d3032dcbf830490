"""One load-client process: its own event loop (uvloop when installed) and a
share of the sockets. Driven by the orchestrator (bench/run.py) over a pipe:

  ("connect", {concurrency})          open every socket, wait for its hello
  ("run", {t0, warm, dur, rate})      writers send at `rate` each from wall time t0
  ("drain", {finals, timeout})        wait until every socket saw its workspace's final seq
  ("close", {})                       close the sockets and exit

Writers embed their send time in the op_id (`b<writer>.<n>.<ns>`), which the
event carries to every socket, so fan-out latency is measured at each receipt
without sharing state between processes (all processes read one clock).
"""
import asyncio
import os
import time
from array import array

from orjson import dumps, loads
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

try:
    import uvloop
except ImportError:  # the harness works without it, with a slower client
    uvloop = None

HEARTBEAT_EVERY = 25.0


class Sock:
    __slots__ = ("url", "ws_id", "writer", "wid", "conn", "hello", "last", "distinct", "gaps", "dups",
                 "reordered", "missing", "closed", "connect_ms", "inflight", "versions", "idle", "n")

    def __init__(self, spec: dict):
        self.url, self.ws_id, self.writer, self.wid = spec["url"], spec["ws"], spec["writer"], spec.get("wid", 0)
        self.conn = None
        self.hello = self.last = 0
        self.distinct = self.gaps = self.dups = self.reordered = 0
        self.missing: set[int] = set()
        self.closed = None
        self.connect_ms = None
        self.inflight: dict[str, tuple[int, str | None]] = {}
        self.versions: dict[str, int] = {}
        self.idle: list[str] = []
        self.n = 0


class Client:
    def __init__(self, pipe, specs: list[dict]):
        self.pipe = pipe
        self.socks = [Sock(s) for s in specs]
        self.win = (0, 0)  # ns window: events sent in it are measured
        self.reset_step()

    def reset_step(self):
        self.lat = array("I")  # fan-out latency, microseconds
        self.ack_lat = array("I")
        self.deliveries = 0
        self.sent = 0
        self.errors: dict[str, int] = {}
        self.max_ack: dict[str, int] = {}
        self.send_lag_max = 0.0
        self.loop_lag = array("f")

    # -- sockets ---------------------------------------------------------------
    async def open(self, s: Sock, sem: asyncio.Semaphore, failures: list):
        async with sem:
            started = time.perf_counter()
            try:
                s.conn = await connect(s.url, compression=None, ping_interval=None, max_size=2 ** 22,
                                       open_timeout=60, close_timeout=2)
                hello = loads(await asyncio.wait_for(s.conn.recv(), 60))
                if hello.get("type") != "hello":
                    raise RuntimeError(f"first message {hello!r}")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(repr(exc)[:200])
                s.closed = "connect failed"
                return
            s.connect_ms = (time.perf_counter() - started) * 1000
            s.hello = s.last = hello["seq"]
        asyncio.ensure_future(self.read(s))
        asyncio.ensure_future(self.heartbeat(s))

    async def read(self, s: Sock):
        now_ns = time.time_ns
        try:
            async for raw in s.conn:
                now = now_ns()
                m = loads(raw)
                kind = m["type"]
                if kind[:5] == "task." or kind[:7] == "member." or kind[:10] == "workspace.":
                    seq = m["seq"]
                    if seq == s.last + 1:
                        s.last = seq
                        s.distinct += 1
                    elif seq > s.last:
                        s.gaps += 1
                        s.missing.update(range(s.last + 1, seq))
                        s.last = seq
                        s.distinct += 1
                    elif seq in s.missing:
                        s.missing.discard(seq)
                        s.reordered += 1
                        s.distinct += 1
                    else:
                        s.dups += 1
                    op = m.get("op_id")
                    if op and op[0] == "b":
                        sent = int(op[op.rindex(".") + 1:])
                        if self.win[0] <= sent < self.win[1]:
                            self.deliveries += 1
                            self.lat.append(min((now - sent) // 1000, 4_000_000_000))
                elif kind == "ack":
                    self.on_ack(s, m, now)
                elif kind == "error":
                    code = m.get("code", "?")
                    self.errors[code] = self.errors.get(code, 0) + 1
                    entry = s.inflight.pop(m.get("op_id"), None)
                    if entry and entry[1]:
                        current = (m.get("data") or {}).get("current")
                        if current:
                            s.versions[entry[1]] = current["version"]
                        s.idle.append(entry[1])
        except ConnectionClosed as exc:
            s.closed = f"closed {exc.rcvd.code if exc.rcvd else 'abnormal'}"
            return
        s.closed = f"closed {s.conn.close_code}"

    def on_ack(self, s: Sock, m: dict, now: int):
        entry = s.inflight.pop(m["op_id"], None)
        if entry is None:
            return
        sent, _ = entry
        if self.win[0] <= sent < self.win[1]:
            self.ack_lat.append(min((now - sent) // 1000, 4_000_000_000))
        seq = m["seq"]
        if seq > self.max_ack.get(s.ws_id, 0):
            self.max_ack[s.ws_id] = seq
        data = m["data"]
        s.versions[data["id"]] = data["version"]
        s.idle.append(data["id"])

    async def write(self, s: Sock, rate: float, t0: float, t_end: float, phase: float):
        interval = 1.0 / rate
        k = 0
        while True:
            target = t0 + phase + k * interval
            if target >= t_end:
                return
            delay = target - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > self.send_lag_max:
                self.send_lag_max = -delay
            if s.closed:
                return
            s.n += 1
            ns = time.time_ns()
            op = f"b{s.wid}.{s.n}.{ns}"
            if s.idle and s.n % 2:
                tid = s.idle.pop()
                msg = {"type": "task.update", "op_id": op,
                       "data": {"id": tid, "version": s.versions[tid], "title": f"bench u{s.n}"}}
            else:
                tid = None
                msg = {"type": "task.create", "op_id": op, "data": {"title": f"bench {s.n}"}}
            s.inflight[op] = (ns, tid)
            try:
                await s.conn.send(dumps(msg).decode())
            except ConnectionClosed:
                return
            self.sent += 1
            k += 1

    async def heartbeat(self, s: Sock):
        """A heartbeat every HEARTBEAT_EVERY s from the socket's connect on, so
        the server's idle watchdog (60 s) keeps it open however long the rest take."""
        await asyncio.sleep(HEARTBEAT_EVERY * (0.5 + (s.wid % 50) / 100))
        while s.closed is None:
            try:
                await s.conn.send('{"type":"heartbeat"}')
            except ConnectionClosed:
                return
            await asyncio.sleep(HEARTBEAT_EVERY)

    async def watch_loop(self, until: float):
        """Event-loop lag: how late a 5 ms sleep wakes up (the client's own backlog)."""
        while time.time() < until:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            self.loop_lag.append((time.perf_counter() - t - 0.005) * 1000)

    # -- commands --------------------------------------------------------------
    async def cmd_connect(self, opts):
        sem = asyncio.Semaphore(opts.get("concurrency", 50))
        failures: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(*(self.open(s, sem, failures) for s in self.socks))
        return {"ok": sum(1 for s in self.socks if s.conn is not None and not s.closed),
                "failed": len(failures), "failures": failures[:3],
                "connect_ms": [s.connect_ms for s in self.socks if s.connect_ms is not None],
                "seconds": time.perf_counter() - started}

    async def cmd_run(self, opts):
        self.reset_step()
        t0, warm, dur, rate = opts["t0"], opts["warm"], opts["dur"], opts["rate"]
        t_end = t0 + warm + dur
        self.win = (int((t0 + warm) * 1e9), int(t_end * 1e9))
        writers = [s for s in self.socks if s.writer and s.conn is not None]
        tasks = [asyncio.ensure_future(self.write(s, rate, t0, t_end, (s.wid % 97) / 97.0 / rate))
                 for s in writers]
        await asyncio.sleep(max(0.0, t0 + warm - time.time()))
        cpu0 = time.process_time()
        lag = asyncio.ensure_future(self.watch_loop(t_end))
        await asyncio.sleep(max(0.0, t_end - time.time()))
        cpu = (time.process_time() - cpu0) / dur * 100
        await asyncio.gather(*tasks, lag)
        deadline = time.monotonic() + opts.get("ack_timeout", 30)
        while any(s.inflight for s in writers if not s.closed) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        lags = sorted(self.loop_lag) or [0.0]
        return {"max_ack": self.max_ack, "sent": self.sent, "cpu_pct": cpu,
                "inflight_left": sum(len(s.inflight) for s in writers),
                "send_lag_max_ms": self.send_lag_max * 1000,
                "loop_lag_p99_ms": lags[int(len(lags) * 0.99)], "loop_lag_max_ms": lags[-1]}

    async def cmd_drain(self, opts):
        finals = opts["finals"]
        deadline = time.monotonic() + opts.get("timeout", 20)
        started = time.monotonic()

        def behind():
            return [s for s in self.socks
                    if s.conn is not None and not s.closed and s.last < finals.get(s.ws_id, 0)]

        while behind() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        lost = 0
        for s in self.socks:
            if s.conn is not None:
                lost += max(0, finals.get(s.ws_id, s.hello) - s.hello - s.distinct)
        return {
            "lat": self.lat, "ack_lat": self.ack_lat, "deliveries": self.deliveries, "errors": self.errors,
            "lost": lost, "gaps": sum(s.gaps for s in self.socks), "dups": sum(s.dups for s in self.socks),
            "reordered": sum(s.reordered for s in self.socks),
            "closed": [s.closed for s in self.socks if s.closed and s.closed != "connect failed"][:5],
            "closed_count": sum(1 for s in self.socks if s.closed and s.closed != "connect failed"),
            "drain_s": time.monotonic() - started,
        }

    async def cmd_close(self, opts):
        await asyncio.gather(*(s.conn.close() for s in self.socks if s.conn is not None and not s.closed),
                             return_exceptions=True)
        return {"closed": True}

    async def serve(self):
        loop = asyncio.get_running_loop()
        while True:
            name, opts = await loop.run_in_executor(None, self.pipe.recv)
            reply = await getattr(self, f"cmd_{name}")(opts)
            self.pipe.send(reply)
            if name == "close":
                return


def main(pipe, specs: list[dict]):
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if uvloop is not None:
        uvloop.install()
    try:
        asyncio.run(Client(pipe, specs).serve())
    except KeyboardInterrupt:
        pass
