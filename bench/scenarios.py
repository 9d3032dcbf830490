"""The scenarios: who connects where, who writes how fast, and one measured
step (writers run, the window is sampled, every socket drains)."""
import multiprocessing as mp
import time
from dataclasses import dataclass, field

from bench import client, measure, profiler
from bench.stack import REDIS_URL, Database, Workers

# Ramp: the highest rate holding p95 <= RAMP_P95_MS with nothing lost.
RAMP_P95_MS = 100.0
SUSTAIN_P95_MS = 2000.0


@dataclass
class Scenario:
    name: str
    kind: str  # "single" | "many" | "ramp" | "idle"
    sockets: int = 0
    rate: float = 0.0  # total writes/s
    writers: int = 0
    workspaces: int = 1
    steps: list = field(default_factory=list)  # ramp rates
    per_member: int = 1  # idle: sockets per membership


def catalogue(quick: bool) -> dict[str, Scenario]:
    if quick:
        return {
            "design": Scenario("design", "single", sockets=50, rate=17, writers=10),
            "n200": Scenario("n200", "single", sockets=200, rate=50, writers=20),
            "many": Scenario("many", "many", workspaces=10, sockets=100, rate=20, writers=10),
            "ramp": Scenario("ramp", "ramp", sockets=200, writers=20, steps=[10, 25]),
            "idle": Scenario("idle", "idle", workspaces=10, sockets=300, per_member=5),
        }
    return {
        "design": Scenario("design", "single", sockets=50, rate=17, writers=10),
        "n200": Scenario("n200", "single", sockets=200, rate=50, writers=20),
        "n500": Scenario("n500", "single", sockets=500, rate=20, writers=20),
        "many": Scenario("many", "many", workspaces=100, sockets=1000, rate=100, writers=100),
        "ramp": Scenario("ramp", "ramp", sockets=200, writers=20,
                         steps=[2, 5, 10, 15, 20, 30, 40, 50, 60, 75, 90, 110, 130, 160, 200]),
        "idle": Scenario("idle", "idle", workspaces=100, sockets=5000, per_member=5),
    }


class Topology:
    """Workspaces made once per run and shared by every configuration: one
    big workspace (every user a member) and `many` workspaces of 10."""

    def __init__(self, pop, users: int, many: int):
        pop.ensure_users(users)
        self.users = pop.users[:users]
        self.big = pop.workspace(self.users[0], self.users, "bench big") if users else None
        self.many: list[tuple[str, list[dict]]] = []
        for k in range(many):
            members = [self.users[(10 * k + j) % len(self.users)] for j in range(10)]
            self.many.append((pop.workspace(members[0], members, f"bench {k}"), members))


def plan(sc: Scenario, topo: Topology, workers: Workers) -> list[dict]:
    specs = []
    if sc.kind in ("single", "ramp"):
        # Writers spread evenly over the members and alternate between the workers.
        stride = max(1, sc.sockets // max(1, sc.writers))
        writing = {k * stride + ((k - k * stride) % workers.count if stride > 1 else 0) for k in range(sc.writers)}
        for i in range(sc.sockets):
            user = topo.users[i]
            specs.append({"url": f"{workers.ws(i)}/ws/workspaces/{topo.big}/?token={user['token']}",
                          "ws": topo.big, "writer": i in writing, "wid": i})
    elif sc.kind == "many":
        for k, (ws, members) in enumerate(topo.many[:sc.workspaces]):
            for j, user in enumerate(members):
                i = len(specs)
                specs.append({"url": f"{workers.ws(i)}/ws/workspaces/{ws}/?token={user['token']}",
                              "ws": ws, "writer": j == k % workers.count and k < sc.writers, "wid": i})
    elif sc.kind == "idle":
        # Every socket on worker 0: memory per socket of one process.
        for (ws, members) in topo.many[:sc.workspaces]:
            for user in members:
                for _ in range(sc.per_member):
                    specs.append({"url": f"{workers.ws(0)}/ws/workspaces/{ws}/?token={user['token']}",
                                  "ws": ws, "writer": False, "wid": len(specs)})
        specs = specs[:sc.sockets]
    return specs


class Fleet:
    """The client processes, each holding a share of the sockets."""

    def __init__(self, specs: list[dict], procs: int):
        procs = max(1, min(procs, len(specs)))
        ctx = mp.get_context("spawn")
        self.pipes, self.procs = [], []
        for p in range(procs):
            mine = specs[p::procs]
            here, there = ctx.Pipe()
            proc = ctx.Process(target=client.main, args=(there, mine), daemon=True)
            proc.start()
            self.pipes.append(here)
            self.procs.append(proc)

    def call(self, name: str, opts: dict, timeout: float = 600) -> list[dict]:
        for pipe in self.pipes:
            pipe.send((name, opts))
        return [self._recv(pipe, timeout) for pipe in self.pipes]

    def send(self, name: str, opts: dict) -> None:
        for pipe in self.pipes:
            pipe.send((name, opts))

    def collect(self, timeout: float = 600) -> list[dict]:
        return [self._recv(pipe, timeout) for pipe in self.pipes]

    @staticmethod
    def _recv(pipe, timeout):
        if not pipe.poll(timeout):
            raise RuntimeError("a client process did not answer")
        return pipe.recv()

    def close(self) -> None:
        try:
            self.call("close", {}, timeout=10)
        except (RuntimeError, OSError, EOFError):
            pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


def connect(fleet: Fleet, concurrency: int) -> dict:
    replies = fleet.call("connect", {"concurrency": concurrency})
    times = [t for r in replies for t in r["connect_ms"]]
    failures = [f for r in replies for f in r["failures"]]
    return {"connected": sum(r["ok"] for r in replies), "connect_failed": sum(r["failed"] for r in replies),
            "connect_failures": failures[:3], "connect_ms": measure.summary_plain(times),
            "connect_s": round(max(r["seconds"] for r in replies), 2)}


class Step:
    """One measured stretch at a fixed write rate, then a drain."""

    def __init__(self, fleet: Fleet, workers: Workers, db: Database):
        self.fleet, self.workers, self.db = fleet, workers, db
        self.before = {"lost": 0, "gaps": 0, "dups": 0, "reordered": 0, "closed_count": 0}

    def run(self, sc: Scenario, rate: float, warm: float, dur: float, specs: list[dict], profile_to=None) -> dict:
        writers = sum(1 for s in specs if s["writer"])
        per_writer = rate / writers
        t0 = time.time() + 1.0
        self.fleet.send("run", {"t0": t0, "warm": warm, "dur": dur, "rate": per_writer, "ack_timeout": 10})
        pg_pids = self.db.backend_pids()
        time.sleep(max(0.0, t0 + warm - time.time()))
        a = measure.Sample(self.workers.pids, pg_pids, REDIS_URL)
        spy = profiler.start(self.workers.pids[0], dur, profile_to) if profile_to else None
        time.sleep(max(0.0, t0 + warm + dur - time.time()))
        b = measure.Sample(self.workers.pids, pg_pids, REDIS_URL)
        rss = [measure.proc_rss_kb(p) for p in self.workers.pids]
        runs = self.fleet.collect()
        finals: dict[str, int] = {}
        for r in runs:
            for ws, seq in r["max_ack"].items():
                finals[ws] = max(finals.get(ws, 0), seq)
        drains = self.fleet.call("drain", {"finals": finals, "timeout": 15})
        lat = [v for d in drains for v in d["lat"]]
        ack = [v for d in drains for v in d["ack_lat"]]
        errors: dict[str, int] = {}
        for d in drains:
            for k, v in d["errors"].items():
                errors[k] = errors.get(k, 0) + v
        totals = {k: sum(d[k] for d in drains) for k in self.before}
        delta = {k: totals[k] - self.before[k] for k in totals}
        self.before = totals
        sockets_per_ws = len(specs) / max(1, len({s["ws"] for s in specs}))
        result = {
            "scenario": sc.name, "sockets": len(specs), "workspaces": len({s["ws"] for s in specs}),
            "writers": writers, "rate": rate, "sent": sum(r["sent"] for r in runs),
            "expected_deliveries_per_s": round(rate * sockets_per_ws),
            "deliveries_per_s": round(sum(d["deliveries"] for d in drains) / dur),
            "lat_ms": measure.summary_ms(lat), "ack_ms": measure.summary_ms(ack),
            **delta, "closed": [c for d in drains for c in d["closed"]][:3], "errors": errors,
            "inflight_left": sum(r["inflight_left"] for r in runs),
            "drain_s": round(max(d["drain_s"] for d in drains), 2),
            **a.delta(b), "server_rss_mb": [round(k / 1024, 1) for k in rss],
            "client_cpu_pct": [round(r["cpu_pct"], 1) for r in runs],
            "client_loop_lag_p99_ms": round(max(r["loop_lag_p99_ms"] for r in runs), 2),
            "client_send_lag_max_ms": round(max(r["send_lag_max_ms"] for r in runs), 2),
            "loadavg": list(_loadavg()),
        }
        # CPU cost, less sensitive to the machine's other load than latency is.
        cpu_s = sum(result["server_cpu_pct"]) / 100 * dur
        writes = result["lat_ms"]["count"] / max(1.0, sockets_per_ws) if result["lat_ms"]["count"] else 0
        result["server_cpu_ms_per_write"] = round(cpu_s / writes * 1000, 2) if writes else None
        result["server_cpu_us_per_delivery"] = round(cpu_s / result["lat_ms"]["count"] * 1e6, 1) \
            if result["lat_ms"]["count"] else None
        result["holds"] = holds(result)
        result["sustained"] = sustained(result)
        if spy is not None:
            result["profile"] = profiler.finish(spy, profile_to)
        return result


def settle(workers: Workers, quiet_pct: float = 15.0, timeout: float = 90.0) -> float:
    """Wait until the workers are idle (a backlog of writes from the previous
    step would otherwise land in the next one); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        a = [measure.proc_cpu_s(p) for p in workers.pids]
        time.sleep(1.0)
        b = [measure.proc_cpu_s(p) for p in workers.pids]
        if sum(y - x for x, y in zip(a, b)) * 100 < quiet_pct:
            break
    return round(time.monotonic() - started, 1)


def sustained(r: dict) -> bool:
    """The rate is carried: nothing lost, duplicated or reordered, every write
    answered, the asked deliveries made, and both acks and fan-out p95 within
    SUSTAIN_P95_MS (neither the writes nor the deliveries are falling further
    behind through the window), however far from real time."""
    ack, fan = r["ack_ms"]["p95"], r["lat_ms"]["p95"]
    return (r["lost"] == 0 and r["dups"] == 0 and r["gaps"] == 0 and r["closed_count"] == 0
            and r["inflight_left"] == 0 and not r["errors"] and ack is not None and ack <= SUSTAIN_P95_MS
            and fan is not None and fan <= SUSTAIN_P95_MS
            and r["deliveries_per_s"] >= 0.95 * r["expected_deliveries_per_s"])


def holds(r: dict) -> bool:
    """No loss, no duplicate, no reorder, every write answered, p95 within the ramp's bound,
    and the deliveries the rate asks for."""
    p95 = r["lat_ms"]["p95"]
    return (r["lost"] == 0 and r["dups"] == 0 and r["gaps"] == 0 and r["closed_count"] == 0
            and r["inflight_left"] == 0 and not r["errors"] and p95 is not None and p95 <= RAMP_P95_MS
            and r["deliveries_per_s"] >= 0.95 * r["expected_deliveries_per_s"])


def _loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]
