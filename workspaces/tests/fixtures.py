"""Fixtures shared by the foundation's tests (import them with `from workspaces.tests.fixtures import *`)."""
from dataclasses import dataclass, field

import pytest

__all__ = ["fast_hasher", "team", "Team", "event_count", "error_shape", "each"]


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
def team(db):
    """A workspace with an owner, two of each other role and an outsider.

    The log holds one member.joined per member (seqs 1..6), as if they had
    been added through member_add; written in bulk because nearly every test
    starts here (the services' own paths are tested on their own).
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from workspaces import events, services
    from workspaces.models import Event, Membership, Workspace

    user_model = get_user_model()
    password = make_password("pass-word-123")
    users = {name: user_model(username=name, password=password) for name in ("owner", "outsider", *ROLES_OF)}
    user_model.objects.bulk_create(users.values())
    users = {u.username: u for u in user_model.objects.filter(username__in=users)}
    owner = users["owner"]
    ws = services.workspace_create(actor=owner, name="Team", description="d").data["id"]
    workspace = Workspace.objects.get(pk=ws)
    Membership.objects.bulk_create(
        [Membership(workspace=workspace, user=users[name], role=role) for name, role in ROLES_OF.items()])
    now = timezone.now()
    Event.objects.bulk_create([
        Event(workspace=workspace, seq=seq, type=events.MEMBER_JOINED, actor=owner, ts=now,
              data=events.member_event_data(users[name], role))
        for seq, (name, role) in enumerate(ROLES_OF.items(), start=1)])
    Workspace.objects.filter(pk=ws).update(last_seq=len(ROLES_OF))
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


def each(cases, check) -> None:
    """Run `check(case)` for every case and report all failing cases at once.

    Refused calls change nothing, so a list of them can share one set-up;
    this keeps the suite fast without hiding which case broke.
    """
    failures = []
    for case in cases:
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"{case!r:.200}: {exc}")
    assert not failures, "\n".join(failures)
