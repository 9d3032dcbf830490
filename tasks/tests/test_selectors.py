"""Task reads: scoping, ordering, filters."""
import uuid

import pytest

from collab_project.errors import NotFound
from tasks import selectors, services
from tasks.models import Task
from workspaces import services as ws_services
from workspaces.tests.fixtures import *  # noqa: F403


def _titles(tasks):
    return [t.title for t in tasks]


def test_ordered_by_position_then_creation(team):
    services.task_create(actor=team.owner, workspace_id=team.ws, title="b", position=2)
    services.task_create(actor=team.owner, workspace_id=team.ws, title="a", position=2)
    services.task_create(actor=team.owner, workspace_id=team.ws, title="first", position=-1)
    assert _titles(selectors.task_list(user=team.viewer, workspace_id=team.ws)) == ["first", "b", "a"]


def test_filters(team):
    services.task_create(actor=team.owner, workspace_id=team.ws, title="Alpha", description="Über größe",
                         status="done", assigned_to=team.member.pk)
    services.task_create(actor=team.owner, workspace_id=team.ws, title="beta ALPHA", assigned_to=team.viewer.pk)
    services.task_create(actor=team.owner, workspace_id=team.ws, title="gamma")
    listed = lambda **kw: _titles(selectors.task_list(user=team.viewer, workspace_id=team.ws, **kw))  # noqa: E731
    assert listed(q="alpha") == ["Alpha", "beta ALPHA"]
    assert listed(q="Über") == ["Alpha"]  # SQLite folds only ASCII case; PostgreSQL folds all
    assert listed(status="done") == ["Alpha"]
    assert listed(assigned_to=team.viewer.pk) == ["beta ALPHA"]
    assert listed(unassigned=True) == ["gamma"]
    assert listed(q="alpha", status="todo") == ["beta ALPHA"]
    assert listed(q="zzz") == []


def test_scoped_to_the_workspace(team):
    other = ws_services.workspace_create(actor=team.outsider, name="Other").data["id"]
    services.task_create(actor=team.outsider, workspace_id=other, title="theirs")
    mine = services.task_create(actor=team.owner, workspace_id=team.ws, title="mine").data["id"]
    assert _titles(selectors.task_list(user=team.owner, workspace_id=team.ws)) == ["mine"]
    with pytest.raises(NotFound):
        selectors.task_list(user=team.outsider, workspace_id=team.ws)
    assert selectors.task_get(user=team.viewer, workspace_id=team.ws, task_id=mine).title == "mine"
    theirs = Task.objects.get(title="theirs").pk
    for task_id in (theirs, uuid.uuid4(), "x"):
        with pytest.raises(NotFound):
            selectors.task_get(user=team.owner, workspace_id=team.ws, task_id=task_id)
    with pytest.raises(NotFound):
        selectors.task_get(user=team.outsider, workspace_id=team.ws, task_id=mine)
