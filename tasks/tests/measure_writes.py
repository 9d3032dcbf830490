"""Statements and time per task write, through the services (not a test).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/collab_write REDIS_URL= \
        .venv/bin/python -m tasks.tests.measure_writes [--writes 500] [--runs 5] [--sql]

Migrates the named database, then, each in a fresh workspace:
- counts the statements of task_create / task_update / task_delete with and
  without op_id (Django's CaptureQueriesContext; its count includes the BEGIN
  and COMMIT of the outermost transaction: each is a round trip too), also
  once the log is past EVENT_LOG_KEEP (where the prune may run);
- times `--writes` socket-style writes (op_id set) `--runs` times and prints
  the median CPU of this process (the worker's share), of its PostgreSQL
  backend (from /proc, when the server is on this machine) and wall-clock
  per write.
Figures for docs/performance.md ("Write transaction").
"""
import argparse
import os
import statistics
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "collab_project.settings")
os.environ.setdefault("SECRET_KEY", "measure-only-not-a-secret-0123456789abcdef")
os.environ.setdefault("DB_POOL", "0")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sql", action="store_true", help="print each captured statement")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks import services as tasks
    from workspaces import services

    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL; the figures that matter are PostgreSQL's", file=sys.stderr)
    call_command("migrate", verbosity=0)
    users = get_user_model().objects
    tag = uuid.uuid4().hex[:8]
    owner = users.create_user(username=f"m-owner-{tag}", password="x")
    member = users.create_user(username=f"m-member-{tag}", password="x")

    def workspace() -> str:
        ws = services.workspace_create(actor=owner, name="measure").data["id"]
        services.member_add(actor=owner, workspace_id=ws, username=member.username, role="member")
        return ws

    def key() -> str:
        return uuid.uuid4().hex

    def count(label, call):
        with CaptureQueriesContext(connection) as ctx:
            call()
        print(f"{len(ctx.captured_queries):3d}  {label}")
        if args.sql:
            for query in ctx.captured_queries:
                print(f"       {query['sql'][:150]}")

    ws = workspace()
    print("statements (BEGIN and COMMIT included):")
    for op in (None, "k"):
        tag_ = "with op_id" if op else "no op_id"
        count(f"task_create {tag_}", lambda: tasks.task_create(
            actor=member, workspace_id=ws, title="t", op_id=op and key()))
        task = tasks.task_create(actor=member, workspace_id=ws, title="t").data
        count(f"task_update {tag_}", lambda: tasks.task_update(
            actor=member, workspace_id=ws, task_id=task["id"], version=1, title="u", op_id=op and key()))
        count(f"task_update {tag_}, assigned to someone else", lambda: tasks.task_update(
            actor=member, workspace_id=ws, task_id=task["id"], version=2, assigned_to=owner.pk,
            op_id=op and key()))
        count(f"task_delete {tag_}", lambda: tasks.task_delete(
            actor=member, workspace_id=ws, task_id=task["id"], op_id=op and key()))
    first = tasks.task_create(actor=member, workspace_id=ws, title="t", op_id="replayed-key")
    count("task_create, a repeated op_id (replay)", lambda: tasks.task_create(
        actor=member, workspace_id=ws, title="t", op_id="replayed-key"))
    assert tasks.task_create(actor=member, workspace_id=ws, title="t", op_id="replayed-key").seq == first.seq
    # Past the kept log: the prune may run. Every seq is counted, as the prune
    # need not run on every one.
    keep = settings.EVENT_LOG_KEEP
    settings.EVENT_LOG_KEEP = 5
    per_write = []
    for _ in range(200):
        with CaptureQueriesContext(connection) as ctx:
            tasks.task_create(actor=member, workspace_id=ws, title="t", op_id=key())
        per_write.append(len(ctx.captured_queries))
    settings.EVENT_LOG_KEEP = keep
    print(f"{statistics.mean(per_write):5.2f}  task_create with op_id past EVENT_LOG_KEEP "
          f"(mean of 200; min {min(per_write)}, max {max(per_write)})")

    def backend_cpu() -> float | None:
        """CPU seconds of this connection's PostgreSQL backend, if it runs here."""
        try:
            with open(f"/proc/{connection.connection.info.backend_pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, AttributeError):
            return None

    print(f"\ntime per write, {args.writes} writes, median of {args.runs} runs (op_id set):")
    for label in ("task_create", "task_update"):
        cpu, wall, db_cpu = [], [], []
        for _ in range(args.runs):
            ws = workspace()
            task = tasks.task_create(actor=member, workspace_id=ws, title="t").data
            version = task["version"]
            c0, w0, d0 = time.process_time(), time.perf_counter(), backend_cpu()
            for i in range(args.writes):
                if label == "task_create":
                    tasks.task_create(actor=member, workspace_id=ws, title=f"t{i}", op_id=key())
                else:
                    version = tasks.task_update(actor=member, workspace_id=ws, task_id=task["id"], version=version,
                                                title=f"u{i}", op_id=key()).data["version"]
            cpu.append((time.process_time() - c0) / args.writes * 1000)
            wall.append((time.perf_counter() - w0) / args.writes * 1000)
            if d0 is not None:
                db_cpu.append((backend_cpu() - d0) / args.writes * 1000)
        db = f", PostgreSQL backend CPU {statistics.median(db_cpu):.2f} ms" if db_cpu else ""
        print(f"  {label}: CPU {statistics.median(cpu):.2f} ms{db}, wall {statistics.median(wall):.2f} ms "
              f"(CPU runs: {', '.join(f'{c:.2f}' for c in cpu)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
