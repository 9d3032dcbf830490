"""The write path on real PostgreSQL: what a write costs in statements, and
the locks and the key index that its shortcuts rely on.

Writers run in threads, each with its own connection and transaction.
"""
import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from collab_project.errors import Forbidden, NotFound
from tasks import services as task_services
from tasks.models import Task
from workspaces import idempotency, services
from workspaces.access import access_membership
from workspaces.models import Event, OperationRecord
from workspaces.tests.fixtures import *  # noqa: F403

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# BEGIN; the membership joined with its workspace, both locked; the task (a
# create reads MAX(position) instead); the write; the last_seq UPDATE; the
# event INSERT; the key's answer INSERT; COMMIT. Each is a round trip with the
# workspace locked; it was 15 (docs/performance.md, "Write transaction").
SOCKET_WRITE_STATEMENTS = 8


def _statements(call) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        call()
    return [q["sql"][:120] for q in ctx.captured_queries]


def test_a_socket_write_costs_at_most_eight_statements(team, settings):
    settings.EVENT_LOG_KEEP = 2  # past the kept log: only every PRUNE_EVERY-th seq prunes
    ws, member = team.ws, team.member
    create = _statements(lambda: task_services.task_create(actor=member, workspace_id=ws, title="t", op_id="c"))
    task = Task.objects.get()
    update = _statements(lambda: task_services.task_update(actor=member, workspace_id=ws, task_id=task.pk,
                                                           version=1, title="u", op_id="u"))
    delete = _statements(lambda: task_services.task_delete(actor=member, workspace_id=ws, task_id=task.pk,
                                                           op_id="d"))
    for name, statements in (("create", create), ("update", update), ("delete", delete)):
        assert len(statements) <= SOCKET_WRITE_STATEMENTS, (name, statements)
        assert not any("SAVEPOINT" in s for s in statements), (name, statements)
    assert OperationRecord.objects.filter(user=member).count() == 3


def _run(targets):
    """Run the callables in threads at once; return what each returned or raised."""
    outcomes = [None] * len(targets)
    barrier = threading.Barrier(len(targets))

    def run(i):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = targets[i]()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return outcomes


def test_repeats_racing_in_two_workspaces_meet_at_the_key_and_apply_once(team, monkeypatch):
    """Different workspaces share no lock: both repeats do their write, and
    only the key's unique index lets one through; the other replays it."""
    other = services.workspace_create(actor=team.owner, name="Other").data["id"]
    store = idempotency._store
    at_store = threading.Barrier(2)

    def store_together(**kwargs):
        at_store.wait(timeout=10)  # both writes done, neither committed
        return store(**kwargs)

    monkeypatch.setattr(idempotency, "_store", store_together)
    answers = _run([
        lambda: task_services.task_create(actor=team.owner, workspace_id=team.ws, title="here", op_id="k"),
        lambda: task_services.task_create(actor=team.owner, workspace_id=other, title="there", op_id="k"),
    ])
    assert not any(isinstance(a, BaseException) for a in answers), answers
    assert sorted(a.replayed for a in answers) == [False, True]
    assert answers[0].data == answers[1].data and answers[0].seq == answers[1].seq
    assert Task.objects.count() == 1
    assert Event.objects.filter(op_id="k").count() == 1


def test_repeats_of_an_update_racing_apply_once(team):
    task = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a").data

    def update():
        return task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task["id"], version=1,
                                         title="b", op_id="u")

    answers = _run([update, update, update])
    assert not any(isinstance(a, BaseException) for a in answers), answers
    assert sorted(a.replayed for a in answers) == [False, True, True]
    assert len({(a.seq, a.data["version"]) for a in answers}) == 1
    assert Task.objects.get().version == 2
    assert Event.objects.filter(op_id="u").count() == 1


def _waits_for_a_lock(pid: int, deadline: float) -> None:
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.005)  # polling pg_stat_activity, bounded by the deadline
    raise AssertionError("the writer never waited for the workspace lock")


@pytest.mark.parametrize("change, refused", [("demote", Forbidden), ("remove", NotFound)])
def test_a_writer_waiting_for_the_lock_sees_the_membership_it_left(team, change, refused):
    """The lock and the membership are read by one statement: a writer that
    waited must still see the role as the transaction it waited for left it
    (not the one from before its wait), and must not deadlock with it."""
    backend: dict = {}
    locked = threading.Event()

    def holder():
        with transaction.atomic():
            access_membership(user=team.owner, workspace_id=team.ws, for_write=True)
            locked.set()
            _waits_for_a_lock(_pid_of(backend), time.monotonic() + 10)
            if change == "demote":
                services.member_role_change(actor=team.owner, workspace_id=team.ws, user_id=team.member.pk,
                                            role="viewer")
            else:
                services.member_remove(actor=team.owner, workspace_id=team.ws, user_id=team.member.pk)

    def writer():
        connection.ensure_connection()
        backend["pid"] = connection.connection.info.backend_pid
        backend["ready"].set()
        assert locked.wait(timeout=10)
        return task_services.task_create(actor=team.member, workspace_id=team.ws, title="late", op_id="w")

    backend["ready"] = threading.Event()
    outcomes = _run([holder, writer])
    assert outcomes[0] is None, outcomes[0]
    assert isinstance(outcomes[1], refused), outcomes[1]
    assert not Task.objects.exists() and not OperationRecord.objects.filter(key="w").exists()


def _pid_of(backend) -> int:
    assert backend["ready"].wait(timeout=10)
    return backend["pid"]
