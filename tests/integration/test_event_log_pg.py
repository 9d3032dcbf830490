"""The event log under concurrent writers, on real PostgreSQL.

Several threads, each with its own database connection, write to one
workspace through the services. The log must hold seqs 1..N exactly once,
and a reader polling it meanwhile must never see a later seq before an
earlier one (seq order is commit order: what lets sockets fill gaps from the
log). Joins through one invite with max_uses=3 from 10 users: exactly 3 win.
"""
import threading
import time

import pytest
from django.db import connection

from collab_project.errors import Gone
from tasks import services as task_services
from workspaces import services
from workspaces.models import Event, Invite, Membership, Workspace
from workspaces.tests.fixtures import *  # noqa: F403

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
WRITES = 25


def _run_threads(target, count):
    errors = []
    barrier = threading.Barrier(count)

    def wrapped(i):
        try:
            barrier.wait(timeout=10)
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    return errors


def test_concurrent_writes_gapless_and_in_commit_order(make_user):
    owner = make_user("owner")
    ws = services.workspace_create(actor=owner, name="Busy").data["id"]
    writers = []
    for i in range(THREADS):
        writers.append(make_user(f"writer{i}"))
        services.member_add(actor=owner, workspace_id=ws, username=f"writer{i}", role="member")
    base = Workspace.objects.get(pk=ws).last_seq
    assert base == THREADS
    seqs: list[list[int]] = [[] for _ in range(THREADS)]
    done = threading.Event()
    reader_seen: list[int] = []
    reader_errors: list[str] = []

    def reader():
        last = 0
        try:
            while True:
                finished = done.is_set()
                rows = list(Event.objects.filter(workspace_id=ws, seq__gt=last).order_by("seq")
                            .values_list("seq", flat=True))
                for seq in rows:
                    if seq != last + 1:
                        reader_errors.append(f"saw seq {seq} right after {last}")
                    last = seq
                    reader_seen.append(seq)
                if finished:
                    return
                time.sleep(0.002)  # a polling pace, not a wait for a condition
        finally:
            connection.close()

    def write(i):
        actor = writers[i]
        task = task_services.task_create(actor=actor, workspace_id=ws, title=f"w{i}")
        seqs[i].append(task.seq)
        version = task.data["version"]
        for n in range(WRITES - 1):
            if n % 3 == 2:
                result = task_services.task_create(actor=actor, workspace_id=ws, title=f"w{i}-{n}",
                                                   op_id=f"{i}-{n}")
            else:
                result = task_services.task_update(actor=actor, workspace_id=ws, task_id=task.data["id"],
                                                   version=version, position=float(n))
                version = result.data["version"]
            seqs[i].append(result.seq)

    reader_thread = threading.Thread(target=reader)
    reader_thread.start()
    try:
        errors = _run_threads(write, THREADS)
    finally:
        done.set()
        reader_thread.join(timeout=30)
    assert errors == []
    total = THREADS * WRITES
    everything = sorted(s for per in seqs for s in per)
    assert everything == list(range(base + 1, base + total + 1)), "each write got its own seq"
    for per in seqs:
        assert per == sorted(per), "a thread's own writes are ordered"
    events = list(Event.objects.filter(workspace_id=ws).order_by("seq").values_list("seq", "ts"))
    assert [s for s, _ in events] == list(range(1, base + total + 1))
    assert all(a <= b for (_, a), (_, b) in zip(events, events[1:])), "ts follows seq"
    assert Workspace.objects.get(pk=ws).last_seq == base + total
    assert reader_errors == []
    assert reader_seen == list(range(1, base + total + 1))


def test_concurrent_joins_respect_max_uses(make_user):
    owner = make_user("owner")
    ws = services.workspace_create(actor=owner, name="Popular").data["id"]
    invite, token = services.invite_create(actor=owner, workspace_id=ws, max_uses=3)
    joiners = [make_user(f"joiner{i}") for i in range(10)]
    outcomes: list[str] = [""] * 10

    def join(i):
        try:
            result = services.invite_accept(actor=joiners[i], token=token)
            outcomes[i] = result.data["role"]
        except Gone as exc:
            outcomes[i] = exc.code

    assert _run_threads(join, 10) == []
    assert sorted(outcomes) == ["invite_exhausted"] * 7 + ["member"] * 3
    assert Invite.objects.get(pk=invite.pk).uses == 3
    assert Membership.objects.filter(workspace_id=ws).count() == 4
    seqs = list(Event.objects.filter(workspace_id=ws).order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2, 3]


def test_concurrent_repeats_of_one_key_apply_once(make_user):
    owner = make_user("owner")
    ws = services.workspace_create(actor=owner, name="Retries").data["id"]
    answers: list = [None] * 6

    def create(i):
        try:
            answers[i] = task_services.task_create(actor=owner, workspace_id=ws, title=f"try {i}", op_id="same")
        except Exception as exc:  # noqa: BLE001 - in_progress is an allowed answer
            answers[i] = exc

    assert _run_threads(create, 6) == []
    results = [a for a in answers if not isinstance(a, Exception)]
    refused = [a for a in answers if isinstance(a, Exception)]
    assert all(getattr(e, "code", None) == "in_progress" for e in refused), refused
    assert results and len({(r.seq, r.data["id"]) for r in results}) == 1
    assert list(Event.objects.filter(workspace_id=ws).values_list("seq", flat=True)) == [1]
