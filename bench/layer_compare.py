#!/usr/bin/env python3
"""RedisChannelLayer ("core") against RedisPubSubChannelLayer ("pubsub") for
our load: every event of a workspace fans out to every socket of it.

Each round starts two Daphne workers per layer (tests/integration/stack.py, a
fresh database each), opens --sockets sockets on one workspace (half on each
worker) and measures:
  fan-out latency  a write sent over a socket until the last socket has its event
                   (--writes writes, one at a time)
  burst            --burst writes sent back to back until every socket has all
                   of them: deliveries per second
  stalls           writes not at every socket after 5 s (30 s for a burst): the
                   layer lost or held them; the bench then sends a heartbeat on
                   every socket, which makes the server fill from the log
Rounds alternate the layers so a busy machine hurts both alike; medians over
rounds are printed, with the core/pubsub ratio.

    .venv/bin/python bench/layer_compare.py --rounds 3 --sockets 60
"""
import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.stack import drop_template, start_stack  # noqa: E402

LAYERS = ("core", "pubsub")


class Fanout:
    """Counts, per seq, how many sockets have the event; wakes waiters when all do."""

    def __init__(self, sockets: int):
        self.sockets = sockets
        self.counts: dict[int, int] = {}
        self.done: dict[int, asyncio.Event] = {}
        self.completed_at: dict[int, float] = {}

    def waiter(self, seq: int) -> asyncio.Event:
        return self.done.setdefault(seq, asyncio.Event())

    def got(self, seq: int) -> None:
        count = self.counts.get(seq, 0) + 1
        self.counts[seq] = count
        if count == self.sockets:
            self.completed_at[seq] = time.perf_counter()
            self.waiter(seq).set()


async def _read(conn, fanout: Fanout) -> None:
    async for raw in conn:
        msg = orjson.loads(raw)
        if "ts" in msg and "seq" in msg:
            fanout.got(msg["seq"])


async def run_round(layer: str, args) -> dict:
    from websockets.asyncio.client import connect

    stack = start_stack(workers=2, env={"CHANNEL_LAYER_BACKEND": layer, "LOG_LEVEL": "ERROR"}, name=f"lc{layer}")
    conns, readers = [], []
    try:
        owner = stack.register(f"bench{uuid.uuid4().hex[:6]}")
        ws = stack.workspace(owner)
        fanout = Fanout(args.sockets)
        for i in range(args.sockets):
            conn = await connect(f"{stack.ws(i % 2)}/ws/workspaces/{ws}/?token={owner['token']}", max_size=2 ** 20)
            await conn.recv()  # hello
            conns.append(conn)
        readers = [asyncio.create_task(_read(c, fanout)) for c in conns]
        writer = conns[0]
        seq = 0
        latencies = []
        stalls = 0
        for i in range(args.writes):
            seq += 1
            started = time.perf_counter()
            await writer.send(orjson.dumps({"type": "task.create", "data": {"title": f"l{i}"}}).decode())
            try:
                await asyncio.wait_for(asyncio.shield(fanout.waiter(seq).wait()), 5)
            except asyncio.TimeoutError:
                # The layer lost or held it. A client would heartbeat (every 30 s), the
                # watchdog would check (every 10 s); do the former now to go on.
                stalls += 1
                await asyncio.gather(*(c.send('{"type": "heartbeat"}') for c in conns))
                await asyncio.wait_for(fanout.waiter(seq).wait(), 60)
            latencies.append((fanout.completed_at[seq] - started) * 1000)
        first = seq + 1
        started = time.perf_counter()
        for i in range(args.burst):
            await writer.send(orjson.dumps({"type": "task.create", "data": {"title": f"b{i}"}}).decode())
        seq += args.burst
        everything = asyncio.gather(*(fanout.waiter(s).wait() for s in range(first, seq + 1)))
        try:
            await asyncio.wait_for(asyncio.shield(everything), 30)
        except asyncio.TimeoutError:
            stalls += 1
            await asyncio.gather(*(c.send('{"type": "heartbeat"}') for c in conns))
            await asyncio.wait_for(everything, 60)
        burst_s = time.perf_counter() - started
        return {
            "layer": layer,
            # Writes that had not reached every socket after 5 s.
            "stalls": stalls,
            "p50_ms": statistics.median(latencies),
            "p95_ms": sorted(latencies)[int(0.95 * (len(latencies) - 1))],
            "burst_s": burst_s,
            "deliveries_per_s": args.burst * args.sockets / burst_s,
        }
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        stack.close()


async def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=60)
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args(argv)
    results: dict[str, list[dict]] = {layer: [] for layer in LAYERS}
    try:
        for r in range(args.rounds):
            for layer in (LAYERS if r % 2 == 0 else LAYERS[::-1]):
                result = await run_round(layer, args)
                results[layer].append(result)
                print(f"round {r + 1} {layer:6}: fan-out p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms"
                      f"  burst {result['burst_s']:6.2f} s  {result['deliveries_per_s']:8.0f} deliveries/s"
                      f"  stalls {result['stalls']}", flush=True)
    finally:
        drop_template()
    med = {layer: {key: statistics.median(r[key] for r in rows) for key in ("p50_ms", "p95_ms", "burst_s",
                                                                           "deliveries_per_s")}
           for layer, rows in results.items()}
    print(f"\n{args.sockets} sockets on 2 workers, {args.writes} single writes, bursts of {args.burst};"
          f" medians of {args.rounds} rounds")
    print(f"{'layer':8} {'fan-out p50 ms':>15} {'p95 ms':>8} {'burst s':>8} {'deliveries/s':>13} {'stalls':>7}")
    for layer in LAYERS:
        m = med[layer]
        stalls = sum(r["stalls"] for r in results[layer])
        print(f"{layer:8} {m['p50_ms']:15.1f} {m['p95_ms']:8.1f} {m['burst_s']:8.2f} {m['deliveries_per_s']:13.0f}"
              f" {stalls:7d}")
    print(f"ratio core/pubsub: fan-out p50 {med['core']['p50_ms'] / med['pubsub']['p50_ms']:.2f}x,"
          f" burst time {med['core']['burst_s'] / med['pubsub']['burst_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
