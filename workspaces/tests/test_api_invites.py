"""REST: invites and joining by invite."""
from datetime import timedelta

from django.utils import timezone

from workspaces.models import Event, Invite, Membership
from workspaces.services import token_hash
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import each, error_shape


def url(t, path=""):
    return f"/api/workspaces/{t.ws}/{path}"


# --- invites --------------------------------------------------------------------------------

def _invite(client, t, **payload):
    response = client.post(url(t, "invites/"), payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_invite_create_shape_and_hash(team, api):
    client = api(team.owner)
    invite = _invite(client, team)
    assert {"id", "token", "url", "role", "max_uses", "uses", "expires_at", "revoked"} <= set(invite)
    assert invite["role"] == "member" and invite["max_uses"] is None and invite["uses"] == 0
    assert invite["revoked"] is False and invite["url"].endswith(f"/join/{invite['token']}/")
    assert invite["url"].startswith("http")
    expires = timezone.datetime.fromisoformat(invite["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(hours=168))) < timedelta(minutes=1)
    stored = Invite.objects.get(pk=invite["id"])
    assert stored.token_hash == token_hash(invite["token"]) and invite["token"] not in stored.token_hash
    listed = client.get(url(team, "invites/")).json()
    assert listed["count"] == 1
    assert "token" not in listed["results"][0] and "url" not in listed["results"][0]
    assert invite["token"] not in str(listed)


def test_invite_expiry_fraction_and_never(team, api):
    client = api(team.owner)
    half = _invite(client, team, expires_in_hours=0.5, max_uses=2, role="viewer")
    expires = timezone.datetime.fromisoformat(half["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(minutes=30))) < timedelta(minutes=1)
    assert half["max_uses"] == 2 and half["role"] == "viewer"
    never = _invite(client, team, expires_in_hours=None)
    assert never["expires_at"] is None


def test_invite_create_refuses(team, api):
    client = api(team.owner)
    payloads = [
        {"role": "owner"}, {"role": "boss"}, {"max_uses": 0}, {"max_uses": -1}, {"max_uses": 1.5},
        {"max_uses": "many"}, {"max_uses": 2**63}, {"max_uses": True}, {"expires_in_hours": 0},
        {"expires_in_hours": -1}, {"expires_in_hours": 8761}, {"expires_in_hours": "NaN"},
        {"expires_in_hours": "Infinity"}, {"expires_in_hours": "soon"}, {"expires_in_hours": True},
        {"expires_in_hours": "1e400"}, {"role": ["member"]}, {"role": 1},
    ]

    def check(payload):
        error_shape(client.post(url(team, "invites/"), payload, format="json"), 400)
        assert not Invite.objects.exists()

    each(payloads, check)


def _join(client, token):
    return client.post("/api/workspaces/join/", {"token": token}, format="json")


def test_join_max_uses_and_rejoin(team, api, make_user):
    invite = _invite(api(team.admin), team, max_uses=2, role="viewer")
    first, second, third = make_user("j1"), make_user("j2"), make_user("j3")
    response = _join(api(first), invite["token"])
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "viewer" and body["workspace"]["id"] == team.ws and body["workspace"]["role"] == "viewer"
    event = Event.objects.filter(workspace_id=team.ws).order_by("-seq").first()
    assert event.type == "member.joined" and event.actor_id == first.pk
    seq = team.workspace().last_seq
    again = _join(api(first), invite["token"])
    assert again.status_code == 200 and again.json()["role"] == "viewer"
    assert Invite.objects.get(pk=invite["id"]).uses == 1 and team.workspace().last_seq == seq
    # A member joining by any invite keeps their role and uses nothing.
    assert _join(api(team.member), invite["token"]).json()["role"] == "member"
    assert _join(api(second), invite["token"]).status_code == 200
    assert Invite.objects.get(pk=invite["id"]).uses == 2
    error_shape(_join(api(third), invite["token"]), 410, "invite_exhausted")
    assert Invite.objects.get(pk=invite["id"]).uses == 2
    assert not Membership.objects.filter(user=third).exists()
    # Listing shows the counted uses.
    listed = api(team.owner).get(url(team, "invites/")).json()["results"]
    assert listed[0]["uses"] == 2


def test_join_expired_revoked_unknown(team, api, make_user):
    client = api(team.owner)
    expired = _invite(client, team)
    Invite.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    joiner = api(make_user("late"))
    error_shape(_join(joiner, expired["token"]), 410, "invite_expired")
    revoked = _invite(client, team)
    assert client.delete(url(team, f"invites/{revoked['id']}/")).status_code == 204
    assert client.delete(url(team, f"invites/{revoked['id']}/")).status_code == 204
    assert client.get(url(team, "invites/")).json()["results"][0]["revoked"] is True
    error_shape(_join(joiner, revoked["token"]), 410, "invite_revoked")
    error_shape(_join(joiner, "no-such-token"), 404, "not_found")
    error_shape(_join(joiner, revoked["id"]), 404, "not_found")  # the id is not the token
    for payload in ({}, {"token": ""}, {"token": None}, {"token": ["x"]}, {"token": "t" * 201}):
        error_shape(joiner.post("/api/workspaces/join/", payload, format="json"), 400)
    assert Invite.objects.filter(uses__gt=0).count() == 0
    assert not Membership.objects.filter(user__username="late").exists()


def test_invite_revoke_other_workspace_is_404(team, api, make_user):
    from workspaces import services

    other_owner = make_user("other")
    other_ws = services.workspace_create(actor=other_owner, name="Other").data["id"]
    invite, _ = services.invite_create(actor=other_owner, workspace_id=other_ws)
    error_shape(api(team.owner).delete(url(team, f"invites/{invite.id}/")), 404)
    assert not Invite.objects.get(pk=invite.pk).revoked
    import uuid

    error_shape(api(team.owner).delete(url(team, f"invites/{uuid.uuid4()}/")), 404)


def test_invite_list_paginated(team, api):
    client = api(team.owner)
    for _ in range(3):
        _invite(client, team)
    page = client.get(url(team, "invites/?page_size=2")).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
