"""Fixtures shared by the foundation's tests (import them with `from workspaces.tests.fixtures import *`)."""
from dataclasses import dataclass, field

import pytest

__all__ = ["fast_hasher", "team", "Team", "event_count", "error_shape"]


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # Django's default PBKDF2 costs ~0.3 s per user; these tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Team:
    ws: str
    users: dict = field(default_factory=dict)

    def __getattr__(self, name):
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)

    def workspace(self):
        from workspaces.models import Workspace

        return Workspace.objects.get(pk=self.ws)


ROLES_OF = {
    "admin": "admin", "admin2": "admin", "member": "member", "member2": "member",
    "viewer": "viewer", "viewer2": "viewer",
}


@pytest.fixture
def team(make_user):
    """A workspace with an owner, two of each other role and an outsider.

    Set up through the services, so the log holds one member.joined per
    member (seqs 1..6) before the test starts.
    """
    from workspaces import services

    owner = make_user("owner")
    ws = services.workspace_create(actor=owner, name="Team", description="d").data["id"]
    users = {"owner": owner, "outsider": make_user("outsider")}
    for name, role in ROLES_OF.items():
        users[name] = make_user(name)
        services.member_add(actor=owner, workspace_id=ws, username=name, role=role)
    return Team(ws=ws, users=users)


def event_count(ws) -> int:
    from workspaces.models import Event

    return Event.objects.filter(workspace_id=ws).count()


def error_shape(response, status: int, code: str | None = None) -> dict:
    """Assert a contract error body: {code, detail} and, for 400, fields."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert isinstance(body.get("code"), str) and isinstance(body.get("detail"), str), body
    if code is not None:
        assert body["code"] == code, body
    if status == 400:
        assert body["code"] == "invalid", body
        assert isinstance(body.get("fields"), dict) and body["fields"], body
    return body
