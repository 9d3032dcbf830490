"""Console lines and the Markdown table of a run (medians over repeats,
ratios against the tutorial baseline measured in the same run)."""
from bench.measure import median
from bench.scenarios import SUSTAIN_P95_MS, sustained

BASELINE = "tutorial"


def line(config: str, r: dict) -> str:
    lat, ack = r["lat_ms"], r["ack_ms"]
    return (f"[{config:>9}] {r['scenario']:<7} N={r['sockets']:<5} R={r['rate']:<6g} "
            f"deliv/s {r['deliveries_per_s']:>6}/{r['expected_deliveries_per_s']:<6} "
            f"lat p50/95/99/max {lat['p50']}/{lat['p95']}/{lat['p99']}/{lat['max']} ms  ack p95 {ack['p95']} ms  "
            f"lost {r['lost']} dup {r['dups']} gap {r['gaps']} closed {r['closed_count']} err {r['errors'] or 0}  "
            f"srv cpu {r['server_cpu_pct']} pg {r['pg_cpu_pct']} redis {r['redis_cpu_pct']} "
            f"machine {r['machine_busy_pct']}% cpu/write {r.get('server_cpu_ms_per_write')}ms "
            f"cpu/delivery {r.get('server_cpu_us_per_delivery')}us  client cpu {r['client_cpu_pct']} lag99 {r['client_loop_lag_p99_ms']}ms"
            f"  {'HOLDS' if r['holds'] else 'FAILS'}")


def idle_line(config: str, r: dict) -> str:
    return (f"[{config:>9}] idle    {r['connected']}/{r['sockets']} sockets on one worker: "
            f"{r['kb_per_socket']} KB/socket (RSS {r['rss_before_mb']} -> {r['rss_after_mb']} MB), "
            f"connect p50/p95/max {r['connect_ms']['p50']}/{r['connect_ms']['p95']}/{r['connect_ms']['max']} ms, "
            f"all connected in {r['connect_s']} s, idle cpu {r['idle_cpu']['server_cpu_pct']}%")


def _fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ratio(a, b, higher_is_better=True):
    if a is None or b is None or a == 0 or b == 0:
        return "-"
    return f"{(a / b if higher_is_better else b / a):.1f}x"


def _med(rows, getter):
    return median([getter(r) for r in rows])


def markdown(doc: dict) -> str:
    res = doc["results"]
    configs = doc["configs"]
    out = [f"Command: `{doc['command']}`  ",
           f"Machine: {doc['machine']['nproc']} cores, {doc['machine']['cpu']}; client loop "
           f"{doc['machine']['client_loop']}; load average at start {doc['machine']['loadavg_start']}, "
           f"at end {doc['machine'].get('loadavg_end')}  ",
           f"Window {doc['warmup_s']} s warm-up + {doc['duration_s']} s measured, {doc['procs']} client processes, "
           f"medians over {doc['repeats']} repeat(s).", ""]
    steady = [r for r in res if r["scenario"] not in ("ramp", "idle")]
    if steady:
        out += ["| scenario | config | sockets | writes/s | deliveries/s (asked) | p50 ms | p95 ms | p99 ms | "
                "max ms | ack p95 ms | lost/dup/gap | connect p95 ms | server CPU % | Redis CPU % | "
                "client CPU % (max proc) | machine busy % | server CPU ms/write | server CPU us/delivery |",
                "|" + "---|" * 18]
        for name in dict.fromkeys(r["scenario"] for r in steady):
            per = {}
            for config in configs:
                rows = [r for r in steady if r["scenario"] == name and r["config"] == config]
                if not rows:
                    continue
                per[config] = rows
                m = {
                    "deliv": _med(rows, lambda r: r["deliveries_per_s"]),
                    "p50": _med(rows, lambda r: r["lat_ms"]["p50"]), "p95": _med(rows, lambda r: r["lat_ms"]["p95"]),
                    "p99": _med(rows, lambda r: r["lat_ms"]["p99"]), "max": _med(rows, lambda r: r["lat_ms"]["max"]),
                    "ack": _med(rows, lambda r: r["ack_ms"]["p95"]),
                }
                per[config + ":m"] = m
                r0 = rows[0]
                out.append(
                    f"| {name} | {config} | {r0['sockets']} | {r0['rate']:g} | {_fmt(m['deliv'], 0)} "
                    f"({r0['expected_deliveries_per_s']}) | {_fmt(m['p50'])} | {_fmt(m['p95'])} | {_fmt(m['p99'])} | "
                    f"{_fmt(m['max'])} | {_fmt(m['ack'])} | "
                    f"{sum(r['lost'] for r in rows)}/{sum(r['dups'] for r in rows)}/{sum(r['gaps'] for r in rows)} | "
                    f"{_fmt(_med(rows, lambda r: r['connect_ms']['p95']))} | "
                    f"{_fmt(_med(rows, lambda r: sum(r['server_cpu_pct'])))} | "
                    f"{_fmt(_med(rows, lambda r: r['redis_cpu_pct']))} | "
                    f"{_fmt(_med(rows, lambda r: max(r['client_cpu_pct'])))} | "
                    f"{_fmt(_med(rows, lambda r: r['machine_busy_pct']))} | "
                    f"{_fmt(_med(rows, lambda r: r.get('server_cpu_ms_per_write')), 2)} | "
                    f"{_fmt(_med(rows, lambda r: r.get('server_cpu_us_per_delivery')))} |")
            if "shipped:m" in per and BASELINE + ":m" in per:
                a, b = per["shipped:m"], per[BASELINE + ":m"]
                out.append(f"| {name} | **shipped vs {BASELINE}** | | | {_ratio(a['deliv'], b['deliv'])} | "
                           f"{_ratio(a['p50'], b['p50'], False)} | {_ratio(a['p95'], b['p95'], False)} | "
                           f"{_ratio(a['p99'], b['p99'], False)} | {_ratio(a['max'], b['max'], False)} | "
                           f"{_ratio(a['ack'], b['ack'], False)} | | | | | | | | |")
        out.append("")
    ramp = [r for r in res if r["scenario"] == "ramp"]
    if ramp:
        out += ["Ramp (one workspace, N sockets, the rate raised step by step). *Holds*: p95 <= 100 ms, "
                "nothing lost, duplicated or out of order, every write acked, >= 95 % of the asked deliveries. "
                "*Sustained*: the same with acks and fan-out p95 <= 2 s instead (the server keeps up, "
                "however late).", "",
                "| config | highest rate holding (writes/s) | p95 ms there | highest rate sustained (writes/s) | "
                "deliveries/s there | fan-out p95 / ack p95 ms there | first rate not sustained | why |",
                "|---|---|---|---|---|---|---|---|"]
        best, kept = {}, {}
        for config in configs:
            reps = sorted({r["repeat"] for r in ramp if r["config"] == config})
            tops, sus, fails = [], [], []
            for rep in reps:
                steps = [r for r in ramp if r["config"] == config and r["repeat"] == rep]
                ok = [r for r in steps if r["holds"]]
                tops.append(ok[-1] if ok else None)
                good = [r for r in steps if sustained(r)]
                sus.append(good[-1] if good else None)
                bad = [r for r in steps if not sustained(r)]
                fails.append(bad[0] if bad else None)
            best[config] = median([t["rate"] if t else 0 for t in tops])
            kept[config] = median([t["rate"] if t else 0 for t in sus])
            t = next((x for x in tops if x and x["rate"] == best[config]), None)
            k = next((x for x in sus if x and x["rate"] == kept[config]), None)
            f = next((x for x in fails if x), None)
            why = _why(f) if f else "never failed (raise the steps)"
            out.append(f"| {config} | {_fmt(best[config], 0)} | {t['lat_ms']['p95'] if t else '-'} | "
                       f"{_fmt(kept[config], 0)} | {k['deliveries_per_s'] if k else '-'} | "
                       f"{(str(k['lat_ms']['p95']) + ' / ' + str(k['ack_ms']['p95'])) if k else '-'} | "
                       f"{f['rate'] if f else '-'} | {why} |")
        if "shipped" in best and BASELINE in best:
            out.append(f"| **shipped vs {BASELINE}** | {_ratio(best['shipped'], best[BASELINE])} | | "
                       f"{_ratio(kept['shipped'], kept[BASELINE])} | | | | |")
        out.append("")
    idle = [r for r in res if r["scenario"] == "idle"]
    if idle:
        out += ["| idle sockets (one worker) | config | connected | KB per socket | RSS before -> after MB | "
                "connect p50/p95/max ms | all connected in s | worker CPU % while idle |", "|---|---|---|---|---|---|---|---|"]
        for config in configs:
            for r in [r for r in idle if r["config"] == config]:
                c = r["connect_ms"]
                out.append(f"| {r['sockets']} | {config} | {r['connected']} | {r['kb_per_socket']} | "
                           f"{r['rss_before_mb']} -> {r['rss_after_mb']} | {c['p50']}/{c['p95']}/{c['max']} | "
                           f"{r['connect_s']} | {r['idle_cpu']['server_cpu_pct']} |")
        out.append("")
    return "\n".join(out) + "\n"


def _why(r: dict) -> str:
    reasons = []
    if r["ack_ms"]["p95"] is not None and r["ack_ms"]["p95"] > SUSTAIN_P95_MS:
        reasons.append(f"ack p95 {r['ack_ms']['p95']} ms")
    if r["lat_ms"]["p95"] is not None and r["lat_ms"]["p95"] > SUSTAIN_P95_MS:
        reasons.append(f"fan-out p95 {r['lat_ms']['p95']} ms")
    for key in ("lost", "dups", "gaps", "closed_count", "inflight_left"):
        if r[key]:
            reasons.append(f"{key} {r[key]}")
    if r["errors"]:
        reasons.append(f"errors {r['errors']}")
    if r["deliveries_per_s"] < 0.95 * r["expected_deliveries_per_s"]:
        reasons.append(f"deliveries {r['deliveries_per_s']}/{r['expected_deliveries_per_s']}")
    return ", ".join(reasons) or "?"


if __name__ == "__main__":
    # Re-render a run's table from its JSON: python -m bench.report bench/results/NAME.json
    import json
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    path.with_suffix(".md").write_text(markdown(json.loads(path.read_text())))
    print(path.with_suffix(".md").read_text())
