"""Scoped reads and the access helpers they rest on."""
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from collab_project.errors import Forbidden, Gone, NotFound
from tasks import services as task_services
from workspaces import events, selectors, services
from workspaces.access import access_membership, access_task
from workspaces.models import Event, Workspace
from workspaces.tests.fixtures import *  # noqa: F403


def test_workspace_list_is_the_callers(team, make_user):
    services.workspace_create(actor=team.member, name="Own")
    names = [(m.workspace.name, m.role) for m in selectors.workspace_list(user=team.member)]
    assert names == [("Team", "member"), ("Own", "owner")]
    assert list(selectors.workspace_list(user=make_user("lonely"))) == []


def test_member_list(team):
    members = selectors.member_list(user=team.viewer, workspace_id=team.ws)
    assert [m.user.username for m in members][:2] == ["owner", "admin"] and len(members) == 7
    with pytest.raises(NotFound):
        selectors.member_list(user=team.outsider, workspace_id=team.ws)


def test_invite_list_needs_admin(team):
    services.invite_create(actor=team.owner, workspace_id=team.ws)
    assert selectors.invite_list(user=team.admin, workspace_id=team.ws).count() == 1
    for who in ("member", "viewer"):
        with pytest.raises(Forbidden):
            selectors.invite_list(user=getattr(team, who), workspace_id=team.ws)
    with pytest.raises(NotFound):
        selectors.invite_list(user=team.outsider, workspace_id=team.ws)


@pytest.mark.parametrize("workspace_id", ["nope", None, 5, "", str(uuid.uuid4()), uuid.uuid4()])
def test_membership_get_unknown_workspace(team, workspace_id):
    with pytest.raises(NotFound):
        selectors.membership_get(user=team.owner, workspace_id=workspace_id)


def test_anonymous_is_not_found(team):
    with pytest.raises(NotFound):
        access_membership(user=AnonymousUser(), workspace_id=team.ws)


def test_access_roles(team):
    assert access_membership(user=team.viewer, workspace_id=team.ws).role == "viewer"
    assert access_membership(user=team.admin, workspace_id=team.ws, min_role="admin").role == "admin"
    with pytest.raises(Forbidden):
        access_membership(user=team.admin, workspace_id=team.ws, min_role="owner")
    with pytest.raises(Forbidden):
        access_membership(user=team.viewer, workspace_id=team.ws, min_role="member", for_write=True)
    with pytest.raises(NotFound):
        access_membership(user=team.outsider, workspace_id=team.ws, for_write=True)
    with pytest.raises(NotFound):
        access_membership(user=team.owner, workspace_id=uuid.uuid4(), for_write=True)


def test_access_task_scoped_to_its_workspace(team):
    other = services.workspace_create(actor=team.owner, name="Other").data["id"]
    foreign = task_services.task_create(actor=team.owner, workspace_id=other, title="x").data["id"]
    own = task_services.task_create(actor=team.owner, workspace_id=team.ws, title="y").data["id"]
    assert access_task(user=team.viewer, workspace_id=team.ws, task_id=own)[1].title == "y"
    for task_id in (foreign, "junk", uuid.uuid4()):
        with pytest.raises(NotFound):
            access_task(user=team.owner, workspace_id=team.ws, task_id=task_id)
    with pytest.raises(Forbidden):
        access_task(user=team.viewer, workspace_id=team.ws, task_id=own, min_role="member")


def test_events_after(team, settings):
    ws = team.workspace()
    results, more = selectors.events_after(workspace_id=ws.pk, last_seq=ws.last_seq, since=0, limit=4)
    assert [e["seq"] for e in results] == [1, 2, 3, 4] and more
    results, more = selectors.events_after(workspace_id=ws.pk, last_seq=ws.last_seq, since=4, limit=2)
    assert [e["seq"] for e in results] == [5, 6] and not more
    assert results[0]["type"] == "member.joined" and results[0]["actor"]["username"] == "owner"
    settings.EVENT_LOG_KEEP = 2
    with pytest.raises(Gone) as info:
        selectors.events_after(workspace_id=ws.pk, last_seq=ws.last_seq, since=3, limit=10)
    assert info.value.code == "resync_required"
    # since == last_seq - keep is still answerable (the next event is kept).
    selectors.events_after(workspace_id=ws.pk, last_seq=ws.last_seq, since=4, limit=10)


def test_events_after_never_answers_with_a_gap(team, settings, monkeypatch):
    """A caller's last_seq may predate a write that pruned past `since`."""
    settings.EVENT_LOG_KEEP = 5
    monkeypatch.setattr(events, "PRUNE_EVERY", 1)
    stale = team.workspace().last_seq  # 6: seqs 2..6 would be kept
    for i in range(3):
        task_services.task_create(actor=team.owner, workspace_id=team.ws, title=f"t{i}")  # now 5..9 kept
    with pytest.raises(Gone):
        selectors.events_after(workspace_id=team.ws, last_seq=stale, since=2, limit=10)
    results, _ = selectors.events_after(workspace_id=team.ws, last_seq=stale, since=4, limit=10)
    assert [e["seq"] for e in results] == [5, 6, 7, 8, 9]


def test_event_list_checks_access(team):
    with pytest.raises(NotFound):
        selectors.event_list(user=team.outsider, workspace_id=team.ws, since=0, limit=10)
    results, _ = selectors.event_list(user=team.viewer, workspace_id=team.ws, since=5, limit=10)
    assert [e["seq"] for e in results] == [6]


def test_event_actor_gone_is_null(team):
    Event.objects.create(workspace=Workspace.objects.get(pk=team.ws), seq=7, type="task.deleted", data={},
                         ts=timezone.now(), actor=None)
    results, _ = selectors.event_list(user=team.viewer, workspace_id=team.ws, since=6, limit=10)
    assert results[0]["actor"] is None
