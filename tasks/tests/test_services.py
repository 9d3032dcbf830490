"""Task services: create defaults, field-level merge, `changed`, retries."""
from datetime import date

import pytest

from collab_project.errors import Conflict, Forbidden, Invalid, NotFound
from tasks import services
from tasks.models import Task
from workspaces.models import Event
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import event_count


def _create(t, **fields):
    return services.task_create(actor=t.owner, workspace_id=t.ws, **{"title": "T", **fields})


def _update(t, task_id, version, actor=None, **fields):
    return services.task_update(actor=actor or t.owner, workspace_id=t.ws, task_id=task_id, version=version,
                                **fields)


def _last(t):
    return Event.objects.filter(workspace_id=t.ws).order_by("-seq").first()


def test_position_defaults_after_the_last(team):
    assert _create(team).data["position"] == 1.0
    _create(team, position=-10)
    _create(team, position=41.5)
    assert _create(team).data["position"] == 42.5


def test_create_result_and_event(team):
    result = _create(team, due_date=date(2031, 2, 3), priority=2)
    assert result.http_status == 201 and result.seq == _last(team).seq == 7
    assert result.data["due_date"] == "2031-02-03" and _last(team).data == result.data


def test_changed_lists_only_what_changed(team):
    task = _create(team, description="same").data
    result = _update(team, task["id"], 1, description="same", status="done", priority=0, title="New")
    event = _last(team)
    assert event.data["changed"] == ["title", "status"] and event.seq == result.seq
    assert result.data["version"] == 2
    stored = Task.objects.get(pk=task["id"])
    assert stored.field_versions == {"title": 2, "status": 2}


def test_merge_rules(team):
    task = _create(team).data
    _update(team, task["id"], 1, title="A")                     # v2: title
    _update(team, task["id"], 2, status="in_progress")          # v3: status
    assert _update(team, task["id"], 1, priority=1).data["version"] == 4     # untouched field from v1
    assert _update(team, task["id"], 2, description="x").data["version"] == 5
    with pytest.raises(Conflict) as info:
        _update(team, task["id"], 2, status="done", priority=3, title="B")  # status changed at v3, priority at v4
    assert info.value.extra["fields"] == ["priority", "status"]
    assert info.value.extra["current"]["version"] == 5
    assert _update(team, task["id"], 4, status="done").data["version"] == 6
    with pytest.raises(Conflict) as info:
        _update(team, task["id"], 7, title="future")
    assert info.value.extra["fields"] == ["title"]
    assert Task.objects.get(pk=task["id"]).version == 6


def test_conflict_writes_nothing(team, django_capture_on_commit_callbacks):
    task = _create(team).data
    _update(team, task["id"], 1, title="A")
    before = event_count(team.ws), team.workspace().last_seq
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Conflict):
            _update(team, task["id"], 1, title="B", op_id="c1")
    assert callbacks == [] and (event_count(team.ws), team.workspace().last_seq) == before
    assert Task.objects.get(pk=task["id"]).title == "A"


def test_roles_and_scope(team):
    task = _create(team).data
    with pytest.raises(Forbidden):
        services.task_create(actor=team.viewer, workspace_id=team.ws, title="no")
    with pytest.raises(Forbidden):
        _update(team, task["id"], 1, actor=team.viewer, title="no")
    with pytest.raises(Forbidden):
        services.task_delete(actor=team.viewer, workspace_id=team.ws, task_id=task["id"])
    with pytest.raises(NotFound):
        services.task_delete(actor=team.outsider, workspace_id=team.ws, task_id=task["id"])
    with pytest.raises(Invalid):
        services.task_create(actor=team.owner, workspace_id=team.ws, title="x", assigned_to=team.outsider.pk)
    assert Task.objects.count() == 1


def test_replay_same_seq_and_body(team):
    first = services.task_create(actor=team.member, workspace_id=team.ws, title="one", op_id="op")
    again = services.task_create(actor=team.member, workspace_id=team.ws, title="two", op_id="op")
    assert again.replayed and (again.data, again.seq, again.http_status) == (first.data, first.seq, 201)
    other = services.task_create(actor=team.admin, workspace_id=team.ws, title="two", op_id="op")
    assert not other.replayed and other.seq == first.seq + 1
    assert Event.objects.filter(workspace_id=team.ws, op_id="op").count() == 2


def test_delete(team):
    task = _create(team).data
    result = services.task_delete(actor=team.member, workspace_id=team.ws, task_id=task["id"])
    assert result.http_status == 204 and result.data == {"id": task["id"]}
    assert _last(team).type == "task.deleted" and not Task.objects.exists()
