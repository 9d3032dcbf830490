"""Workspace, membership, invite and idempotency services, called directly."""
from datetime import timedelta

import pytest
from django.utils import timezone

from collab_project.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from tasks import services as task_services
from tasks.models import Task
from workspaces import events, services
from workspaces.idempotency import operation_records_prune
from workspaces.models import Event, Invite, Membership, OperationRecord, Workspace
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import event_count


def _events(ws):
    return list(Event.objects.filter(workspace_id=ws).order_by("seq"))


def test_workspace_create_has_owner_and_empty_log(make_user):
    owner = make_user("o")
    result = services.workspace_create(actor=owner, name="W", settings={"a": 1})
    assert result.http_status == 201 and result.seq is None and result.data["role"] == "owner"
    workspace = Workspace.objects.get(pk=result.data["id"])
    assert workspace.owner == owner and workspace.last_seq == 0 and workspace.settings == {"a": 1}
    assert list(Membership.objects.filter(workspace=workspace).values_list("user_id", "role")) == [(owner.pk, "owner")]
    assert event_count(workspace.pk) == 0


def test_seqs_are_consecutive_across_services(team, make_user):
    task = task_services.task_create(actor=team.member, workspace_id=team.ws, title="t", op_id="a").data
    task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task["id"], version=1, title="u")
    services.workspace_update(actor=team.admin, workspace_id=team.ws, name="Renamed")
    services.member_role_change(actor=team.owner, workspace_id=team.ws, user_id=team.viewer2.pk, role="member")
    services.member_remove(actor=team.admin, workspace_id=team.ws, user_id=team.viewer2.pk)
    task_services.task_delete(actor=team.member, workspace_id=team.ws, task_id=task["id"])
    events = _events(team.ws)
    assert [e.seq for e in events] == list(range(1, 13))
    assert [e.type for e in events[6:]] == ["task.created", "task.updated", "workspace.updated",
                                            "member.role_changed", "member.removed", "task.deleted"]
    assert events[6].op_id == "a" and events[7].op_id is None
    assert team.workspace().last_seq == 12
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:]))


def test_events_published_only_after_commit(team, monkeypatch, django_capture_on_commit_callbacks):
    from collab_project import broadcast

    sent = []
    monkeypatch.setattr(broadcast, "send_event", lambda ws, seq, payload: sent.append((ws, seq, payload)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.workspace_update(actor=team.owner, workspace_id=team.ws, description="new")
    assert sent == [] and callbacks
    for callback in callbacks:
        callback()
    published = [s for s in sent if s[1] == result.seq]
    assert len(published) == 1
    ws, seq, payload = published[0]
    assert ws == team.ws and payload["type"] == "workspace.updated" and payload["seq"] == seq
    assert payload["data"]["description"] == "new" and "role" not in payload["data"]
    assert payload["actor"] == {"id": team.owner.pk, "username": "owner"}


def test_refused_write_leaves_no_trace(team, monkeypatch, django_capture_on_commit_callbacks):
    before = event_count(team.ws), Membership.objects.count(), team.workspace().last_seq
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Forbidden):
            services.member_add(actor=team.admin, workspace_id=team.ws, username="outsider", role="admin")
        with pytest.raises(Forbidden):
            services.workspace_update(actor=team.member, workspace_id=team.ws, name="x")
        with pytest.raises(NotFound):
            services.workspace_delete(actor=team.outsider, workspace_id=team.ws)
    assert callbacks == []
    assert (event_count(team.ws), Membership.objects.count(), team.workspace().last_seq) == before


def test_transfer_events_and_roles(team):
    result = services.workspace_transfer(actor=team.owner, workspace_id=team.ws, user_id=team.viewer.pk, op_id="tr")
    assert result.data["owner"]["id"] == team.viewer.pk and result.data["role"] == "admin"
    tail = _events(team.ws)[-3:]
    assert [e.type for e in tail] == ["member.role_changed", "member.role_changed", "workspace.updated"]
    assert tail[0].data == {"user": {"id": team.owner.pk, "username": "owner"}, "role": "admin"}
    assert tail[1].data == {"user": {"id": team.viewer.pk, "username": "viewer"}, "role": "owner"}
    assert {e.op_id for e in tail} == {"tr"} and result.seq == tail[-1].seq
    assert Membership.objects.get(workspace_id=team.ws, role="owner").user == team.viewer
    # The old owner is an admin now: it can no longer delete or transfer.
    with pytest.raises(Forbidden):
        services.workspace_delete(actor=team.owner, workspace_id=team.ws)
    replay = services.workspace_transfer(actor=team.owner, workspace_id=team.ws, user_id=team.member.pk, op_id="tr")
    assert replay.replayed and replay.seq == result.seq and replay.data == result.data


def test_member_remove_unassigns_their_tasks(team):
    task = task_services.task_create(actor=team.owner, workspace_id=team.ws, title="t",
                                     assigned_to=team.member2.pk).data
    other = task_services.task_create(actor=team.owner, workspace_id=team.ws, title="u").data
    services.member_remove(actor=team.admin, workspace_id=team.ws, user_id=team.member2.pk)
    tail = _events(team.ws)[-2:]
    assert tail[0].type == "task.updated" and tail[0].data["changed"] == ["assigned_to"]
    assert tail[0].data["assigned_to"] is None and tail[0].data["version"] == 2
    assert tail[1].type == "member.removed" and tail[1].data["role"] == "member"
    assert Task.objects.get(pk=task["id"]).assigned_to is None
    assert Task.objects.get(pk=other["id"]).version == 1
    # An edit of assigned_to from before the removal now clashes; other fields merge.
    with pytest.raises(Conflict) as info:
        task_services.task_update(actor=team.owner, workspace_id=team.ws, task_id=task["id"], version=1,
                                  assigned_to=team.member.pk)
    assert info.value.extra["fields"] == ["assigned_to"]
    merged = task_services.task_update(actor=team.owner, workspace_id=team.ws, task_id=task["id"], version=1,
                                       title="still fine")
    assert merged.data["version"] == 3


def test_leave_and_owner_cannot(team):
    services.member_remove(actor=team.viewer, workspace_id=team.ws, user_id=team.viewer.pk)
    assert not Membership.objects.filter(workspace_id=team.ws, user=team.viewer).exists()
    with pytest.raises(Conflict) as info:
        services.member_remove(actor=team.owner, workspace_id=team.ws, user_id=team.owner.pk)
    assert info.value.code == "owner_must_transfer"
    with pytest.raises(Forbidden):
        services.member_remove(actor=team.admin, workspace_id=team.ws, user_id=team.owner.pk)


@pytest.mark.parametrize("user_id", [True, None, -1, 0, 2**63, "1 ", 1.0, "x"])
def test_member_services_unknown_user_ids(team, user_id):
    with pytest.raises(NotFound):
        services.member_remove(actor=team.owner, workspace_id=team.ws, user_id=user_id)
    with pytest.raises(NotFound):
        services.member_role_change(actor=team.owner, workspace_id=team.ws, user_id=user_id, role="viewer")


def test_role_change_to_same_role_writes_nothing(team):
    seq = team.workspace().last_seq
    result = services.member_role_change(actor=team.owner, workspace_id=team.ws, user_id=team.member.pk,
                                         role="member")
    assert result.data["role"] == "member" and team.workspace().last_seq == seq


@pytest.mark.parametrize("role", ["owner", "boss", ""])
def test_services_refuse_owner_role_themselves(team, role):
    with pytest.raises(Invalid):
        services.member_role_change(actor=team.owner, workspace_id=team.ws, user_id=team.member.pk, role=role)
    with pytest.raises(Invalid):
        services.member_add(actor=team.owner, workspace_id=team.ws, username="outsider", role=role)
    with pytest.raises(Invalid):
        services.invite_create(actor=team.owner, workspace_id=team.ws, role=role)
    assert Membership.objects.filter(workspace_id=team.ws, role="owner").count() == 1


def test_invite_lifecycle(team, make_user):
    invite, token = services.invite_create(actor=team.owner, workspace_id=team.ws, role="admin", max_uses=1,
                                           expires_in_hours=0.25)
    assert invite.token_hash == services.token_hash(token) and len(token) >= 32
    assert timedelta(minutes=14) < invite.expires_at - timezone.now() <= timedelta(minutes=15)
    assert not Invite.objects.filter(token_hash=token).exists()
    joiner = make_user("joiner")
    result = services.invite_accept(actor=joiner, token=token)
    assert result.data["role"] == "admin" and result.seq == team.workspace().last_seq
    assert Invite.objects.get(pk=invite.pk).uses == 1
    with pytest.raises(Gone) as info:
        services.invite_accept(actor=make_user("late"), token=token)
    assert info.value.code == "invite_exhausted"
    # Admins cannot revoke an admin invite; the owner can.
    with pytest.raises(Forbidden):
        services.invite_revoke(actor=team.admin, workspace_id=team.ws, invite_id=invite.pk)
    assert services.invite_revoke(actor=team.owner, workspace_id=team.ws, invite_id=invite.pk).revoked
    with pytest.raises(NotFound):
        services.invite_accept(actor=joiner, token="")
    with pytest.raises(NotFound):
        services.invite_accept(actor=joiner, token=None)


def test_invite_check_order(team, make_user):
    """Revoked wins over expired, expired over exhausted; a member is let through regardless."""
    invite, token = services.invite_create(actor=team.owner, workspace_id=team.ws, max_uses=1)
    Invite.objects.filter(pk=invite.pk).update(uses=1, expires_at=timezone.now() - timedelta(hours=1), revoked=True)
    user = make_user("x")
    with pytest.raises(Gone) as info:
        services.invite_accept(actor=user, token=token)
    assert info.value.code == "invite_revoked"
    Invite.objects.filter(pk=invite.pk).update(revoked=False)
    with pytest.raises(Gone) as info:
        services.invite_accept(actor=user, token=token)
    assert info.value.code == "invite_expired"
    assert services.invite_accept(actor=team.member, token=token).data["role"] == "member"


def test_idempotency_ttl_and_prune(team):
    first = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a", op_id="old")
    OperationRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    second = task_services.task_create(actor=team.member, workspace_id=team.ws, title="b", op_id="old")
    assert not second.replayed and second.data["id"] != first.data["id"]
    assert OperationRecord.objects.filter(key="old").count() == 1
    OperationRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    task_services.task_create(actor=team.member, workspace_id=team.ws, title="c", op_id="fresh")
    assert operation_records_prune() == 1
    assert list(OperationRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_one_key_space_across_services(team):
    created = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a", op_id="same")
    seq = team.workspace().last_seq
    replay = task_services.task_delete(actor=team.member, workspace_id=team.ws, task_id=created.data["id"],
                                       op_id="same")
    assert replay.replayed and replay.data == created.data and replay.seq == created.seq
    assert team.workspace().last_seq == seq and Task.objects.filter(pk=created.data["id"]).exists()


def test_a_repeat_replays_whatever_its_own_run_meets(team, django_capture_on_commit_callbacks):
    """A repeat runs and is rolled back (its key holds the first answer), or
    fails where the first one changed things: either way it replays."""
    created = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a", op_id="c")
    task_id = created.data["id"]
    updated = task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task_id, version=1,
                                        title="b", op_id="u")
    deleted_task = task_services.task_create(actor=team.member, workspace_id=team.ws, title="x").data["id"]
    deleted = task_services.task_delete(actor=team.member, workspace_id=team.ws, task_id=deleted_task, op_id="d")
    state = team.workspace().last_seq, Task.objects.count(), OperationRecord.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        # Its own run would succeed: a second task.
        again = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a", op_id="c")
        # Its own run would clash: title changed at version 2.
        again_u = task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task_id, version=1,
                                            title="b", op_id="u")
        # Its own run would not find the task.
        again_d = task_services.task_delete(actor=team.member, workspace_id=team.ws, task_id=deleted_task,
                                            op_id="d")
    assert callbacks == []
    for first, repeat in ((created, again), (updated, again_u), (deleted, again_d)):
        assert repeat.replayed and (repeat.data, repeat.seq, repeat.http_status) == (
            first.data, first.seq, first.http_status)
    assert (team.workspace().last_seq, Task.objects.count(), OperationRecord.objects.count()) == state
    assert Task.objects.get(pk=task_id).version == 2


def test_a_failed_keyed_write_stores_nothing_and_can_be_retried(team):
    task = task_services.task_create(actor=team.member, workspace_id=team.ws, title="a").data
    task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task["id"], version=1, title="b")
    with pytest.raises(Conflict):
        task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task["id"], version=1,
                                  title="c", op_id="k")
    assert not OperationRecord.objects.filter(key="k").exists()
    retried = task_services.task_update(actor=team.member, workspace_id=team.ws, task_id=task["id"], version=2,
                                        title="c", op_id="k")
    assert not retried.replayed and retried.data["title"] == "c"
    assert OperationRecord.objects.get(key="k").result == retried.data


@pytest.mark.parametrize("key", ["", "x" * 65, 5, ["a"], "a\x00b", "\ud800"])
def test_bad_op_ids(team, key):
    with pytest.raises(Invalid):
        task_services.task_create(actor=team.member, workspace_id=team.ws, title="a", op_id=key)
    assert not Task.objects.exists()


def test_pruning_keeps_the_log_bounded(team, settings, monkeypatch):
    """At least EVENT_LOG_KEEP events stay; every PRUNE_EVERY-th seq deletes the older ones."""
    settings.EVENT_LOG_KEEP = 3
    monkeypatch.setattr(events, "PRUNE_EVERY", 4)
    for i in range(9):
        task_services.task_create(actor=team.owner, workspace_id=team.ws, title=f"t{i}")
    # seqs 7..15: seq 8 pruned up to 5, seq 12 up to 9; none since.
    assert [e.seq for e in _events(team.ws)] == list(range(10, 16))
    task_services.task_create(actor=team.owner, workspace_id=team.ws, title="t9")
    assert [e.seq for e in _events(team.ws)] == [14, 15, 16]
    task_services.task_create(actor=team.owner, workspace_id=team.ws, title="t10")
    assert [e.seq for e in _events(team.ws)] == [14, 15, 16, 17]


def test_user_register(db):
    user = services.user_register(username="Zed", password="x-long-password-1")
    assert user.check_password("x-long-password-1")
    with pytest.raises(Invalid) as info:
        services.user_register(username="zED", password="x-long-password-1")
    assert "username" in info.value.extra["fields"]


def test_workspace_delete_cascades(team):
    task_services.task_create(actor=team.owner, workspace_id=team.ws, title="a")
    result = services.workspace_delete(actor=team.owner, workspace_id=team.ws, op_id="del")
    assert result.http_status == 204 and result.seq == 8
    assert not Workspace.objects.filter(pk=team.ws).exists()
    assert not Event.objects.exists() and not Task.objects.exists() and not Membership.objects.exists()
    assert services.workspace_delete(actor=team.owner, workspace_id=team.ws, op_id="del").replayed
    with pytest.raises(NotFound):
        services.workspace_delete(actor=team.owner, workspace_id=team.ws)
