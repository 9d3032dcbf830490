"""GET /api/workspaces/{ws}/presence/: the same list as hello.presence, members only."""
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model

from presence import store

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    from workspaces import services

    owner, viewer, outsider = (get_user_model().objects.create(username=n) for n in ("owner", "viewer", "outsider"))
    ws = services.workspace_create(actor=owner, name="W").data["id"]
    services.member_add(actor=owner, workspace_id=ws, username="viewer", role="viewer")
    return {"owner": owner, "viewer": viewer, "outsider": outsider, "ws": ws}


def test_members_see_who_is_online(team, api):
    async_to_sync(store.join)(team["ws"], "c1", team["owner"], 30)
    async_to_sync(store.join)(team["ws"], "c2", team["owner"], 30)
    async_to_sync(store.update)(team["ws"], team["owner"], status="idle", viewing=None)
    response = api(team["viewer"]).get(f"/api/workspaces/{team['ws']}/presence/")
    assert response.status_code == 200
    body = response.json()
    assert body == async_to_sync(store.online)(team["ws"])
    assert len(body) == 1
    entry = body[0]
    assert entry["user"] == {"id": team["owner"].pk, "username": "owner"}
    assert (entry["status"], entry["viewing"]) == ("idle", None) and entry["since"].endswith("Z")


def test_empty_when_nobody_is_online(team, api):
    response = api(team["owner"]).get(f"/api/workspaces/{team['ws']}/presence/")
    assert response.status_code == 200 and response.json() == []


def test_non_members_and_unknown_workspaces_get_404(team, api):
    async_to_sync(store.join)(team["ws"], "c1", team["owner"], 30)
    for path in (f"/api/workspaces/{team['ws']}/presence/",
                 "/api/workspaces/00000000-0000-0000-0000-000000000000/presence/",
                 "/api/workspaces/not-a-uuid/presence/"):
        response = api(team["outsider"]).get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_anonymous_gets_401(team, api):
    assert api().get(f"/api/workspaces/{team['ws']}/presence/").status_code == 401
