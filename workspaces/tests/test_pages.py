"""The web pages (Django test client): signup, the workspace list, the board,
members, joining by invite, and what outsiders get."""
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from workspaces import services
from workspaces.models import Invite, Membership, Role

PASSWORD = "a-Long-pass-phrase-42"


@pytest.fixture(autouse=True)
def _plain_static(settings):
    # The manifest storage needs collectstatic; pages only need the URLs here.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def workspace(owner):
    result = services.workspace_create(actor=owner, name="Garden <club>")
    return result.data["id"]


def page_data(response) -> dict:
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "the page carries its data for the scripts"
    return json.loads(match.group(1))


# -- accounts ------------------------------------------------------------------------------

def test_signup_creates_logs_in_and_redirects_home(client, db):
    form = client.get("/accounts/signup/")
    assert form.status_code == 200
    for name in ("username", "password1", "password2", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in form.content.decode()
    response = client.post("/accounts/signup/", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.filter(username="newbie").exists()
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("next_url,expected", [("/join/abc/", "/join/abc/"), ("https://evil.example/", "/")])
def test_signup_follows_only_a_local_next(client, db, next_url, expected):
    response = client.post(f"/accounts/signup/?next={next_url}",
                           {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == expected


@pytest.mark.parametrize("data,field", [
    ({"username": "OWNER", "password1": PASSWORD, "password2": PASSWORD}, "username"),
    ({"username": "fresh", "password1": PASSWORD, "password2": PASSWORD + "x"}, "password2"),
    ({"username": "fresh", "password1": "123", "password2": "123"}, "password2"),
])
def test_signup_refuses_bad_input(client, owner, data, field):
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert get_user_model().objects.count() == 1


def test_signup_when_logged_in_redirects(client, owner):
    client.force_login(owner)
    assert client.get("/accounts/signup/")["Location"] == "/"


def test_login_and_logout(client, owner):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "owner", "password": "pass-word-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


# -- workspace list -------------------------------------------------------------------------

def test_home_lists_the_callers_workspaces_escaped(client, owner, workspace, make_user):
    services.workspace_create(actor=make_user("other"), name="Not mine")
    client.force_login(owner)
    body = client.get("/").content.decode()
    assert "Garden &lt;club&gt;" in body and "Garden <club>" not in body
    assert "Not mine" not in body
    assert f"/workspaces/{workspace}/" in body


def test_home_creates_a_workspace(client, owner):
    client.force_login(owner)
    response = client.post("/", {"name": "  Launch  ", "description": "Q3"})
    membership = Membership.objects.get(user=owner, workspace__name="Launch")
    assert membership.role == Role.OWNER
    assert response["Location"] == f"/workspaces/{membership.workspace_id}/"
    invalid = client.post("/", {"name": ""})
    assert invalid.status_code == 200 and "name" in invalid.context["form"].errors


# -- board and members -------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", "members/"])
def test_workspace_pages_for_members_outsiders_and_anonymous(client, owner, workspace, make_user, suffix):
    viewer = make_user("viewer")
    services.member_add(actor=owner, workspace_id=workspace, username="viewer", role=Role.VIEWER)
    path = f"/workspaces/{workspace}/{suffix}"
    assert client.get(path)["Location"] == f"/accounts/login/?next={path}"

    client.force_login(viewer)
    response = client.get(path)
    assert response.status_code == 200
    data = page_data(response)
    assert data == {"workspace": {"id": workspace, "name": "Garden <club>"},
                    "user": {"id": viewer.pk, "username": "viewer"}, "role": "viewer"}
    assert "Garden &lt;club&gt;" in response.content.decode()

    client.force_login(make_user("outsider"))
    assert client.get(path).status_code == 404
    assert client.get(f"/workspaces/{uuid.uuid4()}/{suffix}").status_code == 404
    assert client.get(f"/workspaces/not-a-uuid/{suffix}").status_code == 404


def test_board_hides_add_forms_for_a_viewer(client, owner, workspace, make_user):
    viewer = make_user("viewer")
    services.member_add(actor=owner, workspace_id=workspace, username="viewer", role=Role.VIEWER)
    client.force_login(viewer)
    body = client.get(f"/workspaces/{workspace}/").content.decode()
    assert body.count('class="add-form"') == 3
    assert len(re.findall(r'class="add-form"[^>]*data-edit-only hidden', body)) == 3
    client.force_login(owner)
    body = client.get(f"/workspaces/{workspace}/").content.decode()
    assert not re.findall(r'class="add-form"[^>]*hidden', body)


# -- joining -------------------------------------------------------------------------------------

def _invite(owner, workspace, **kwargs):
    invite, token = services.invite_create(actor=owner, workspace_id=workspace, **kwargs)
    return invite, token


def test_join_needs_login_then_shows_and_joins(client, owner, workspace, make_user):
    _, token = _invite(owner, workspace, role=Role.MEMBER)
    path = f"/join/{token}/"
    assert client.get(path)["Location"] == f"/accounts/login/?next={path}"
    joiner = make_user("joiner")
    client.force_login(joiner)
    page = client.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Garden &lt;club&gt;" in body and 'id="join-button"' in body
    assert not Membership.objects.filter(user=joiner).exists()
    response = client.post(path)
    assert response["Location"] == f"/workspaces/{workspace}/"
    assert Membership.objects.get(user=joiner).role == Role.MEMBER
    again = client.get(path)
    assert again.status_code == 200 and "already a member" in again.content.decode()
    assert client.post(path)["Location"] == f"/workspaces/{workspace}/"
    assert Invite.objects.get().uses == 1


def test_join_dead_and_unknown_invites(client, owner, workspace, make_user):
    client.force_login(make_user("joiner"))
    assert client.get("/join/no-such-token/").status_code == 404
    revoked, token = _invite(owner, workspace)
    services.invite_revoke(actor=owner, workspace_id=workspace, invite_id=revoked.id)
    response = client.get(f"/join/{token}/")
    assert response.status_code == 410 and "revoked" in response.content.decode()
    assert client.post(f"/join/{token}/").status_code == 410
    expired, token = _invite(owner, workspace, expires_in_hours=1)
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/join/{token}/").status_code == 410
    used, token = _invite(owner, workspace, max_uses=1)
    Invite.objects.filter(pk=used.pk).update(uses=1)
    assert client.post(f"/join/{token}/").status_code == 410
    assert Membership.objects.filter(workspace_id=workspace).count() == 1
