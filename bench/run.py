"""Load benchmark of the broadcast path (`make bench`, docs/performance.md).

Starts its own stack (a fresh PostgreSQL database, Daphne workers of the
product, the machine's Redis), sets up users and workspaces through the REST
API, then drives sockets from several client processes. Every selected
scenario runs against each configuration (the product as shipped and the
Channels-tutorial baseline by default) in the same run, so ratios compare
like with like. Results: a JSON file and a Markdown table.
"""
import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure, report  # noqa: E402
from bench.scenarios import Fleet, Step, Topology, catalogue, connect, plan, settle  # noqa: E402
from bench.stack import BENCH_ENV, CONFIGS, REDIS_URL, ROOT, Database, Population, Workers, _clean_env, new_tag  # noqa: E402

DEFAULT_SCENARIOS = ["design", "n200", "n500", "many", "ramp", "idle"]
QUICK_SCENARIOS = ["design", "many", "ramp", "idle"]


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs and smaller scenarios (~2 minutes)")
    p.add_argument("--scenarios", default=None,
                   help=f"comma-separated, from {','.join(DEFAULT_SCENARIOS)},custom (default: all but custom)")
    p.add_argument("--configs", default="shipped,tutorial", help=f"comma-separated, from {','.join(CONFIGS)}")
    p.add_argument("--repeats", type=int, default=None, help="runs of each scenario and configuration (median)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of writes before the measured window")
    p.add_argument("--duration", type=float, default=None, help="seconds of the measured window")
    p.add_argument("--procs", type=int, default=3, help="load-client processes")
    p.add_argument("--connect-concurrency", type=int, default=10, help="handshakes in flight per client process")
    p.add_argument("--workers", type=int, default=2, help="Daphne workers")
    p.add_argument("--sockets", type=int, default=10, help="custom scenario: sockets in one workspace")
    p.add_argument("--rate", type=float, default=5, help="custom scenario: total writes/s")
    p.add_argument("--writers", type=int, default=2, help="custom scenario: writing sockets")
    p.add_argument("--idle-sockets", type=int, default=None, help="idle scenario: sockets (default 5000, quick 500)")
    p.add_argument("--profile", default=None,
                   help="scenario[:config] to profile worker 0 with py-spy during its window")
    p.add_argument("--out", default=None, help="result JSON path (a .md table is written beside it)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workers (every config)")
    return p.parse_args(argv)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    try:
        import uvloop  # noqa: F401
        client_loop = "uvloop"
    except ImportError:
        client_loop = "asyncio"
    return {"nproc": os.cpu_count(), "cpu": model, "free": free, "python": platform.python_version(),
            "client_loop": client_loop, "loadavg_start": list(os.getloadavg())}


def run_scenario(sc, workers, db, topo, args, warm, dur, profile_dir) -> list[dict]:
    specs = plan(sc, topo, workers) if sc.kind != "custom" else plan_custom(sc, topo, workers)
    if sc.kind == "idle":
        return [run_idle(sc, specs, workers, topo, args)]
    fleet = Fleet(specs, args.procs)
    try:
        settle(workers)
        conn = connect(fleet, concurrency=args.connect_concurrency)
        step = Step(fleet, workers, db)
        profiling = profile_dir is not None
        out = []
        rates = sc.steps if sc.kind == "ramp" else [sc.rate]
        for rate in rates:
            settled = settle(workers)
            r = step.run(sc, rate, warm, dur, specs, profile_to=profile_dir if profiling else None)
            profiling = False
            r.update(conn)
            r["settle_s"] = settled
            out.append(r)
            print(report.line(workers.config, r), flush=True)
            if sc.kind == "ramp" and not r["sustained"]:
                break
        return out
    finally:
        fleet.close()
        time.sleep(1.0)  # let the workers finish their disconnects before the next scenario


def plan_custom(sc, topo, workers):
    from bench.scenarios import Scenario
    return plan(Scenario(sc.name, "single", sockets=sc.sockets, writers=sc.writers), topo, workers)


def run_idle(sc, specs, workers, topo, args) -> dict:
    """Memory per idle socket on one worker: RSS before and after connecting."""
    pid = workers.pids[0]
    settle(workers)
    warm = Fleet(specs[:20], 1)  # load every lazily imported module before the baseline
    connect(warm, 20)
    warm.close()
    time.sleep(1 if args.quick else 2)
    before = measure.proc_rss_kb(pid)
    fleet = Fleet(specs, args.procs)
    try:
        conn = connect(fleet, concurrency=args.connect_concurrency)
        time.sleep(2 if args.quick else 5)
        after = measure.proc_rss_kb(pid)
        a = measure.Sample([pid], [], REDIS_URL)
        time.sleep(5 if args.quick else 10)
        b = measure.Sample([pid], [], REDIS_URL)
        r = {"scenario": sc.name, "sockets": len(specs), **conn, "rss_before_mb": round(before / 1024, 1),
             "rss_after_mb": round(after / 1024, 1),
             "kb_per_socket": round((after - before) / max(1, conn["connected"]), 1),
             "idle_cpu": a.delta(b), "loadavg": list(os.getloadavg())}
        print(report.idle_line(workers.config, r), flush=True)
        return r
    finally:
        fleet.close()
        time.sleep(2)


def _terminate(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")  # unwinds: workers stopped, database dropped


def main(argv=None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    raise_nofile()
    cat = catalogue(args.quick)
    names = args.scenarios.split(",") if args.scenarios else (QUICK_SCENARIOS if args.quick else DEFAULT_SCENARIOS)
    if "custom" in names:
        from bench.scenarios import Scenario
        cat["custom"] = Scenario("custom", "custom", sockets=args.sockets, rate=args.rate, writers=args.writers)
    if args.idle_sockets:
        cat["idle"].sockets = args.idle_sockets
    unknown = [n for n in names if n not in cat]
    if unknown:
        sys.exit(f"unknown scenario(s) {unknown}; choose from {list(cat)}")
    configs = args.configs.split(",")
    repeats = args.repeats or 1
    warm = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    dur = args.duration if args.duration is not None else (4 if args.quick else 8)
    extra = dict(kv.split("=", 1) for kv in args.env)
    tag = new_tag()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"{stamp}-{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    logdir = Path(f"/tmp/bench-{tag}")
    logdir.mkdir(parents=True, exist_ok=True)
    secret = new_tag() * 8
    doc = {"command": " ".join([sys.executable.rsplit("/", 1)[-1], "bench/run.py", *(argv or sys.argv[1:])]),
           "started": stamp, "machine": machine(), "configs": configs, "scenarios": names,
           "warmup_s": warm, "duration_s": dur, "procs": args.procs, "repeats": repeats, "results": []}
    print(f"bench {tag}: scenarios {names}, configs {configs}, logs in {logdir}", flush=True)

    users = max([cat[n].sockets for n in names if cat[n].kind in ("single", "ramp", "custom")] + [0])
    many = max([cat[n].workspaces for n in names if cat[n].kind in ("many", "idle")] + [0])
    if many:
        users = max(users, many * 5)
    profile = args.profile.split(":") if args.profile else None
    db = Database(tag)
    try:
        db.create({**_clean_env(), **BENCH_ENV, "SECRET_KEY": secret, "REDIS_URL": REDIS_URL})
        topo = None
        for rep in range(repeats):
            for config in (configs if rep % 2 == 0 else configs[::-1]):
                workers = Workers(config=config, db=db, tag=tag, secret=secret, count=args.workers,
                                  logdir=logdir, extra_env=extra)
                workers.start()
                try:
                    if topo is None:
                        # Set up through the first configuration's workers; every later one shares it.
                        started = time.monotonic()
                        topo = Topology(Population(workers, tag), users, many)
                        print(f"setup: {users} users, {many} small workspaces in "
                              f"{time.monotonic() - started:.1f}s", flush=True)
                    for name in names:
                        prof = None
                        if profile and profile[0] == name and rep == 0 and (len(profile) == 1 or profile[1] == config):
                            prof = logdir / f"profile-{name}-{config}"
                        for r in run_scenario(cat[name], workers, db, topo, args, warm, dur, prof):
                            doc["results"].append({"config": config, "repeat": rep, **r})
                        out.write_text(json.dumps(doc, indent=1, default=str))  # partial, in case of a stop
                finally:
                    workers.stop()
    finally:
        db.drop()
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    out.write_text(json.dumps(doc, indent=1, default=str))
    table = report.markdown(doc)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"results: {out}")
    bad = [r for r in doc["results"] if r["scenario"] != "ramp" and (r.get("lost") or r.get("dups") or r.get("gaps"))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
