"""Server-side samples (CPU and RSS from /proc, Redis INFO cpu, machine load)
and the arithmetic of a run's numbers."""
import os
import time

import redis

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def proc_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def redis_cpu_s(url: str) -> float:
    try:
        info = redis.Redis.from_url(url).info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    except Exception:  # noqa: BLE001 - a missing sample is reported as 0
        return 0.0


class Sample:
    """CPU counters at one instant, for a delta over the measured window."""

    def __init__(self, worker_pids, pg_pids, redis_url):
        self.t = time.monotonic()
        self.workers = [proc_cpu_s(p) for p in worker_pids]
        self.pg = {p: proc_cpu_s(p) for p in pg_pids}
        self.redis = redis_cpu_s(redis_url)
        self.busy, self.total = machine_ticks()

    def delta(self, later: "Sample") -> dict:
        span = later.t - self.t
        pg = sum(later.pg.get(p, v) - v for p, v in self.pg.items())
        return {
            "server_cpu_pct": [round((b - a) / span * 100, 1) for a, b in zip(self.workers, later.workers)],
            "pg_cpu_pct": round(pg / span * 100, 1),
            "redis_cpu_pct": round((later.redis - self.redis) / span * 100, 1),
            "machine_busy_pct": round((later.busy - self.busy) / max(1, later.total - self.total) * 100, 1),
        }


def pct(sorted_values, q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def summary_ms(values_us) -> dict:
    vals = sorted(values_us)
    out = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        v = pct(vals, q)
        out[name] = None if v is None else round(v / 1000, 2)
    out["max"] = round(vals[-1] / 1000, 2) if vals else None
    out["count"] = len(vals)
    return out


def summary_plain(values) -> dict:
    vals = sorted(values)
    return {"p50": _r(pct(vals, 0.5)), "p95": _r(pct(vals, 0.95)), "max": _r(vals[-1] if vals else None)}


def _r(v):
    return None if v is None else round(v, 2)


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
