"""Who is notified of what (the contract's rules), written with the change, delivered after commit."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications import services
from notifications.models import Notification
from tasks import services as tasks
from workspaces import services as workspaces

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    """alice owns W; dave is an admin, bob and carol members, vic a viewer; olga is outside."""
    users = {n: get_user_model().objects.create(username=n) for n in ("alice", "bob", "carol", "dave", "vic", "olga")}
    ws = workspaces.workspace_create(actor=users["alice"], name="W").data["id"]
    for name, role in (("bob", "member"), ("carol", "member"), ("dave", "admin"), ("vic", "viewer")):
        workspaces.member_add(actor=users["alice"], workspace_id=ws, username=name, role=role)
    Notification.objects.all().delete()
    return {**users, "ws": ws}


def got(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("created_at", "id").values_list("type", flat=True))


def everyone(team) -> dict[str, list[str]]:
    return {n: got(team[n]) for n in ("alice", "bob", "carol", "dave", "vic", "olga") if got(team[n])}


def create(team, who="alice", **fields):
    return tasks.task_create(actor=team[who], workspace_id=team["ws"], **{"title": "T", **fields}).data


def update(team, task, who="alice", **fields):
    from tasks.models import Task

    version = Task.objects.get(pk=task["id"]).version
    return tasks.task_update(actor=team[who], workspace_id=team["ws"], task_id=task["id"], version=version,
                             **fields).data


def clear():
    Notification.objects.all().delete()


# -- tasks ---------------------------------------------------------------------------
def test_assignment_on_create_and_on_update(team):
    task = create(team, assigned_to=team["bob"].pk)
    assert everyone(team) == {"bob": ["task_assigned"]}
    note = Notification.objects.get(user=team["bob"])
    assert note.data["task_id"] == task["id"] and str(note.workspace_id) == team["ws"]
    assert note.data["actor"] == {"id": team["alice"].pk, "username": "alice"}
    assert "alice" in note.title and "T" in note.title
    clear()
    update(team, task, assigned_to=team["carol"].pk)
    assert everyone(team) == {"carol": ["task_assigned"]}


def test_nobody_is_notified_of_their_own_action(team):
    task = create(team, "bob", assigned_to=team["bob"].pk, description="note to @bob")
    update(team, task, "bob", status="done", title="mine @bob")
    assert everyone(team) == {}


def test_updates_notify_the_assignee(team):
    task = create(team, "bob", assigned_to=team["carol"].pk)
    clear()
    update(team, task, "alice", priority=2)
    assert everyone(team) == {"carol": ["task_updated"]}
    assert Notification.objects.get(user=team["carol"]).data["changed"] == ["priority"]
    clear()
    update(team, task, "alice", priority=2)  # nothing changed: nothing to tell
    update(team, task, "carol", priority=3)  # the assignee's own change
    assert everyone(team) == {}


def test_completion_notifies_creator_and_assignee_once_each(team):
    task = create(team, "bob", assigned_to=team["carol"].pk)
    clear()
    update(team, task, "dave", status="done")
    assert everyone(team) == {"bob": ["task_completed"], "carol": ["task_completed"]}
    clear()
    update(team, task, "dave", status="todo")
    assert everyone(team) == {"carol": ["task_updated"]}
    clear()
    update(team, task, "carol", status="done")  # the assignee completes: only the creator hears
    assert everyone(team) == {"bob": ["task_completed"]}


def test_mentions_of_members_only_and_only_when_new(team):
    task = create(team, description="ask @bob and @Carol, not @olga or @nobody; mail a@dave.example")
    assert everyone(team) == {"bob": ["mentioned"], "carol": ["mentioned"]}
    clear()
    update(team, task, title="still @bob.")  # bob was already mentioned in this task
    assert everyone(team) == {}
    update(team, task, description="now @vic: look")
    assert everyone(team) == {"vic": ["mentioned"]}


def test_one_notification_per_user_per_change_in_priority_order(team):
    # assigned beats mentioned
    task = create(team, assigned_to=team["bob"].pk, title="@bob please")
    assert everyone(team) == {"bob": ["task_assigned"]}
    clear()
    # completed beats mentioned and updated
    update(team, task, "carol", status="done", description="done, @bob")
    assert everyone(team) == {"alice": ["task_completed"], "bob": ["task_completed"]}
    clear()
    # mentioned beats updated
    update(team, task, "carol", description="@bob again? no: @alice", priority=1)
    assert everyone(team) == {"alice": ["mentioned"], "bob": ["task_updated"]}
    clear()
    # assigned beats completed
    update(team, task, "carol", status="todo")
    clear()
    update(team, task, "carol", status="done", assigned_to=team["dave"].pk)
    assert everyone(team) == {"alice": ["task_completed"], "dave": ["task_assigned"]}


def test_former_members_are_not_notified(team):
    task = create(team, "bob", assigned_to=team["carol"].pk)
    workspaces.member_remove(actor=team["bob"], workspace_id=team["ws"], user_id=team["bob"].pk)
    clear()
    update(team, task, "alice", status="done")
    assert everyone(team) == {"carol": ["task_completed"]}  # bob created it, but he has left


def test_unassign_and_delete_notify_nobody_new(team):
    task = create(team, "alice", assigned_to=team["bob"].pk)
    clear()
    update(team, task, "alice", assigned_to=None)
    assert everyone(team) == {}
    tasks.task_delete(actor=team["alice"], workspace_id=team["ws"], task_id=task["id"])
    assert everyone(team) == {}


def test_task_notifications_read_no_user_row_and_nothing_when_nobody_can_hear(team):
    """Statements of the notification step only: by user id, and none without anyone to notify."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assigned = create(team, "bob", assigned_to=team["carol"].pk)
    plain = create(team, "bob")
    clear()
    with CaptureQueriesContext(connection) as ctx:
        update(team, assigned, "alice", status="done", priority=1)  # bob and carol: task_completed
    statements = [q["sql"] for q in ctx.captured_queries]
    assert everyone(team) == {"bob": ["task_completed"], "carol": ["task_completed"]}
    assert not any('FROM "auth_user"' in sql for sql in statements), statements
    with CaptureQueriesContext(connection) as ctx:
        update(team, plain, "alice", priority=2, title="no mention: a@b.example")
    statements = [q["sql"] for q in ctx.captured_queries]
    assert not any("notifications_notification" in sql for sql in statements), statements
    # The only membership read is the writer's own, under the workspace lock.
    assert sum('FROM "workspaces_membership"' in sql for sql in statements) == 1, statements


# -- members -------------------------------------------------------------------------
def test_direct_add_tells_the_new_member_and_the_managers_but_not_the_adder(team):
    get_user_model().objects.create(username="newbie")
    workspaces.member_add(actor=team["dave"], workspace_id=team["ws"], username="newbie", role="member")
    newbie = get_user_model().objects.get(username="newbie")
    assert got(newbie) == ["added_to_workspace"]
    assert everyone(team) == {"alice": ["member_joined"]}  # dave (the adder) and plain members hear nothing
    note = Notification.objects.get(user=team["alice"])
    assert note.data["user_id"] == newbie.pk and note.data["role"] == "member"


def test_joining_by_invite_tells_owner_and_admins_not_the_joiner(team):
    invite, token = workspaces.invite_create(actor=team["dave"], workspace_id=team["ws"], role="viewer")
    workspaces.invite_accept(actor=team["olga"], token=token)
    assert got(team["olga"]) == []
    assert everyone(team) == {"alice": ["member_joined"], "dave": ["member_joined"]}
    clear()
    workspaces.invite_accept(actor=team["olga"], token=token)  # joining again changes nothing
    assert everyone(team) == {}


def test_role_change_removal_and_transfer(team):
    workspaces.member_role_change(actor=team["dave"], workspace_id=team["ws"], user_id=team["bob"].pk, role="viewer")
    assert everyone(team) == {"bob": ["role_changed"]}
    assert Notification.objects.get(user=team["bob"]).data["role"] == "viewer"
    clear()
    workspaces.member_remove(actor=team["alice"], workspace_id=team["ws"], user_id=team["bob"].pk)
    assert everyone(team) == {"bob": ["removed_from_workspace"]}
    clear()
    workspaces.member_remove(actor=team["carol"], workspace_id=team["ws"], user_id=team["carol"].pk)  # leaving
    assert everyone(team) == {}
    workspaces.workspace_transfer(actor=team["alice"], workspace_id=team["ws"], user_id=team["dave"].pk)
    assert everyone(team) == {"dave": ["role_changed"]}


# -- delivery ------------------------------------------------------------------------
def test_delivered_to_the_users_group_after_commit_only(team, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(services.broadcast, "send_to_user", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        create(team, assigned_to=team["bob"].pk)
    assert sent == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    deliveries = [s for s in sent if s[1] == "user.notification"]
    assert len(deliveries) == 1
    user_id, _, payload = deliveries[0]
    note = Notification.objects.get(user=team["bob"])
    assert user_id == team["bob"].pk
    assert payload == {"type": "notification", "data": {
        "id": str(note.id), "type": "task_assigned", "title": note.title, "message": note.message,
        "data": note.data, "workspace": team["ws"], "created_at": payload["data"]["created_at"], "read_at": None}}


def test_a_failed_change_leaves_no_notification(team):
    from collab_project.errors import Conflict

    task = create(team, "bob")
    clear()
    with pytest.raises(Conflict):
        tasks.task_update(actor=team["alice"], workspace_id=team["ws"], task_id=task["id"], version=99,
                          assigned_to=team["carol"].pk)
    assert everyone(team) == {}


# -- reading and pruning --------------------------------------------------------------
def test_mark_read_and_read_all(team):
    from collab_project.errors import NotFound

    create(team, assigned_to=team["bob"].pk, title="one")
    create(team, assigned_to=team["bob"].pk, title="two")
    first = Notification.objects.filter(user=team["bob"]).first()
    read = services.notification_mark_read(actor=team["bob"], notification_id=str(first.id))
    assert read.read_at is not None
    again = services.notification_mark_read(actor=team["bob"], notification_id=first.id)
    assert again.read_at == read.read_at  # reading twice keeps the first time
    for bad in (str(first.id), "nope", None):
        with pytest.raises(NotFound):
            services.notification_mark_read(actor=team["carol"], notification_id=bad)
    assert services.notification_mark_all_read(actor=team["bob"]) == 1
    assert services.notification_mark_all_read(actor=team["bob"]) == 0


def test_prune_deletes_only_old_read_notifications(team):
    for title in ("old read", "old unread", "new read"):
        create(team, assigned_to=team["bob"].pk, title=title)
    notes = {n.data["task_id"]: n for n in Notification.objects.all()}
    old = timezone.now() - timedelta(days=40)
    Notification.objects.filter(title__contains="old").update(created_at=old)
    Notification.objects.exclude(title__contains="unread").update(read_at=timezone.now())
    assert services.notifications_prune(older_than_days=30) == 1
    assert sorted(Notification.objects.values_list("title", flat=True)) == sorted(
        n.title for n in notes.values() if "old read" not in n.title)
