"""The contract's Roles table over REST: every role against every action.

Each action names the answer per acting role; `outsider` (not a member)
always gets 404, the same as a workspace that does not exist. A refused call
changes nothing (the event log and the counted rows stay as they were).
"""
import uuid

import pytest

from workspaces.models import Invite, Membership, Workspace
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import error_shape, event_count

ROLES = ("viewer", "member", "admin", "owner", "outsider")


def _prepare(t) -> dict:
    """A task and an invite of each grantable role, made by the owner before the call."""
    from tasks import services as task_services
    from workspaces import services

    ctx = {"task": task_services.task_create(actor=t.owner, workspace_id=t.ws, title="T").data["id"]}
    for role in ("viewer", "member", "admin"):
        ctx[role] = str(services.invite_create(actor=t.owner, workspace_id=t.ws, role=role)[0].id)
    return ctx


def base(t):
    return f"/api/workspaces/{t.ws}/"


ACTIONS = {
    # name: (call, {acting role: status}); roles not named get `default`.
    "read_workspace": (lambda c, t, x: c.get(base(t)), {}, 200),
    "read_members": (lambda c, t, x: c.get(base(t) + "members/"), {}, 200),
    "read_tasks": (lambda c, t, x: c.get(base(t) + "tasks/"), {}, 200),
    "read_task": (lambda c, t, x: c.get(base(t) + f"tasks/{x['task']}/"), {}, 200),
    "read_events": (lambda c, t, x: c.get(base(t) + "events/"), {}, 200),
    "create_task": (lambda c, t, x: c.post(base(t) + "tasks/", {"title": "x"}, format="json"),
                    {"viewer": 403}, 201),
    "update_task": (lambda c, t, x: c.patch(base(t) + f"tasks/{x['task']}/", {"version": 1, "title": "y"},
                                         format="json"), {"viewer": 403}, 200),
    "assign_task": (lambda c, t, x: c.patch(base(t) + f"tasks/{x['task']}/",
                                         {"version": 1, "assigned_to": t.member2.pk}, format="json"),
                    {"viewer": 403}, 200),
    "delete_task": (lambda c, t, x: c.delete(base(t) + f"tasks/{x['task']}/"), {"viewer": 403}, 204),
    "update_workspace": (lambda c, t, x: c.patch(base(t), {"name": "New"}, format="json"),
                         {"viewer": 403, "member": 403}, 200),
    "invite_viewer": (lambda c, t, x: c.post(base(t) + "invites/", {"role": "viewer"}, format="json"),
                      {"viewer": 403, "member": 403}, 201),
    "invite_member": (lambda c, t, x: c.post(base(t) + "invites/", {"role": "member"}, format="json"),
                      {"viewer": 403, "member": 403}, 201),
    "invite_admin": (lambda c, t, x: c.post(base(t) + "invites/", {"role": "admin"}, format="json"),
                     {"viewer": 403, "member": 403, "admin": 403}, 201),
    "invite_owner": (lambda c, t, x: c.post(base(t) + "invites/", {"role": "owner"}, format="json"), {}, 400),
    "list_invites": (lambda c, t, x: c.get(base(t) + "invites/"), {"viewer": 403, "member": 403}, 200),
    "revoke_member_invite": (lambda c, t, x: c.delete(base(t) + f"invites/{x['member']}/"),
                             {"viewer": 403, "member": 403}, 204),
    "revoke_viewer_invite": (lambda c, t, x: c.delete(base(t) + f"invites/{x['viewer']}/"),
                             {"viewer": 403, "member": 403}, 204),
    "revoke_admin_invite": (lambda c, t, x: c.delete(base(t) + f"invites/{x['admin']}/"),
                            {"viewer": 403, "member": 403, "admin": 403}, 204),
    "add_member": (lambda c, t, x: c.post(base(t) + "members/", {"username": "outsider"}, format="json"),
                   {"viewer": 403, "member": 403}, 201),
    "add_viewer": (lambda c, t, x: c.post(base(t) + "members/", {"username": "outsider", "role": "viewer"},
                                       format="json"), {"viewer": 403, "member": 403}, 201),
    "add_admin": (lambda c, t, x: c.post(base(t) + "members/", {"username": "outsider", "role": "admin"},
                                      format="json"), {"viewer": 403, "member": 403, "admin": 403}, 201),
    "add_owner": (lambda c, t, x: c.post(base(t) + "members/", {"username": "outsider", "role": "owner"},
                                      format="json"), {}, 400),
    "viewer_to_member": (lambda c, t, x: c.patch(base(t) + f"members/{t.viewer2.pk}/", {"role": "member"},
                                              format="json"), {"viewer": 403, "member": 403}, 200),
    "member_to_viewer": (lambda c, t, x: c.patch(base(t) + f"members/{t.member2.pk}/", {"role": "viewer"},
                                              format="json"), {"viewer": 403, "member": 403}, 200),
    "member_to_admin": (lambda c, t, x: c.patch(base(t) + f"members/{t.member2.pk}/", {"role": "admin"},
                                             format="json"), {"viewer": 403, "member": 403, "admin": 403}, 200),
    "admin_to_member": (lambda c, t, x: c.patch(base(t) + f"members/{t.admin2.pk}/", {"role": "member"},
                                             format="json"), {"viewer": 403, "member": 403, "admin": 403}, 200),
    "role_owner": (lambda c, t, x: c.patch(base(t) + f"members/{t.member2.pk}/", {"role": "owner"},
                                        format="json"), {}, 400),
    "change_owner_role": (lambda c, t, x: c.patch(base(t) + f"members/{t.owner.pk}/", {"role": "admin"},
                                               format="json"), {}, 403),
    "remove_viewer": (lambda c, t, x: c.delete(base(t) + f"members/{t.viewer2.pk}/"),
                      {"viewer": 403, "member": 403}, 204),
    "remove_member": (lambda c, t, x: c.delete(base(t) + f"members/{t.member2.pk}/"),
                      {"viewer": 403, "member": 403}, 204),
    "remove_admin": (lambda c, t, x: c.delete(base(t) + f"members/{t.admin2.pk}/"),
                     {"viewer": 403, "member": 403, "admin": 403}, 204),
    # The owner removing the owner is leaving: 409 (see "leave").
    "remove_owner": (lambda c, t, x: c.delete(base(t) + f"members/{t.owner.pk}/"), {"owner": 409}, 403),
    "leave": (lambda c, t, x: c.delete(base(t) + f"members/{c.actor.pk}/"), {"owner": 409}, 204),
    "delete_workspace": (lambda c, t, x: c.delete(base(t)), {"owner": 204}, 403),
    "transfer": (lambda c, t, x: c.post(base(t) + "transfer/", {"user_id": t.member2.pk}, format="json"),
                 {"owner": 200}, 403),
}

def _expected(action: str, role: str) -> int:
    _, special, default = ACTIONS[action]
    if role == "outsider":
        return 404
    return special.get(role, default)


def _is_read(action: str) -> bool:
    return action.startswith("read_") or action == "list_invites"


# A refused call or a read changes nothing, so all of a role's refusals and
# reads share one set-up; each allowed write gets a fresh one.
WRITES = [(a, r) for a in ACTIONS for r in ROLES if not _is_read(a) and _expected(a, r) < 400]


def _snapshot(t) -> tuple:
    from tasks.models import Task

    return (
        event_count(t.ws),
        list(Workspace.objects.filter(pk=t.ws).values_list("name", "owner_id", "last_seq")),
        list(Membership.objects.filter(workspace_id=t.ws).order_by("user_id").values_list("user_id", "role")),
        list(Invite.objects.filter(workspace_id=t.ws).order_by("id").values_list("id", "revoked")),
        list(Task.objects.filter(workspace_id=t.ws).order_by("id").values_list("id", "version", "assigned_to")),
    )


def _client(api, team, role):
    client = api(getattr(team, role))
    client.actor = getattr(team, role)
    return client


@pytest.mark.parametrize("role", ROLES)
def test_refusals_and_reads_change_nothing(team, api, role):
    client = _client(api, team, role)
    ctx = _prepare(team)
    before = _snapshot(team)
    checked = 0
    for action, (call, _, _) in ACTIONS.items():
        expected = _expected(action, role)
        if expected < 400 and not _is_read(action):
            continue
        response = call(client, team, ctx)
        if expected >= 400:
            code = {404: "not_found", 403: "forbidden", 409: "owner_must_transfer"}.get(expected)
            try:
                error_shape(response, expected, code)
            except AssertionError as exc:
                raise AssertionError(f"{action} by {role}: {exc}") from None
        else:
            assert response.status_code == expected, (action, role, response.status_code)
        assert _snapshot(team) == before, f"{action} by {role} changed something"
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("action,role", WRITES, ids=[f"{a}-{r}" for a, r in WRITES])
def test_allowed_writes(team, api, action, role):
    call, _, _ = ACTIONS[action]
    ctx = _prepare(team)
    before = _snapshot(team)
    response = call(_client(api, team, role), team, ctx)
    expected = _expected(action, role)
    assert response.status_code == expected, (response.status_code, response.content[:300])
    if expected == 204:
        assert not response.content
    assert _snapshot(team) != before, "an allowed write changed nothing"


def test_matrix_covers_every_role_and_action():
    assert len(ACTIONS) == 35 and len(WRITES) == 45
    assert {r for _, r in WRITES} == {"viewer", "member", "admin", "owner"}  # viewers may leave


def test_missing_workspace_is_404_like_a_foreign_one(team, api):
    client = api(team.owner)
    for path in ("", "members/", "tasks/", "events/", "invites/"):
        missing = client.get(f"/api/workspaces/{uuid.uuid4()}/{path}")
        foreign = api(team.outsider).get(f"/api/workspaces/{team.ws}/{path}")
        assert missing.status_code == foreign.status_code == 404
        assert missing.json() == foreign.json()


def test_outsider_gets_404_before_validation(team, api):
    client = api(team.outsider)
    response = client.post(f"/api/workspaces/{team.ws}/tasks/", {"title": ""}, format="json")
    error_shape(response, 404, "not_found")
    response = client.patch(f"/api/workspaces/{team.ws}/", {"name": 5}, format="json")
    error_shape(response, 404, "not_found")


def test_low_role_hears_403_whatever_it_sent(team, api):
    from tasks.services import task_create

    task = task_create(actor=team.owner, workspace_id=team.ws, title="t").data["id"]
    viewer, member, admin = api(team.viewer), api(team.member), api(team.admin)
    error_shape(viewer.post(url := f"/api/workspaces/{team.ws}/tasks/", {}, format="json"), 403, "forbidden")
    error_shape(viewer.post(url, b"{broken", content_type="application/json"), 403, "forbidden")
    error_shape(viewer.patch(f"{url}{task}/", {"title": ""}, format="json"), 403, "forbidden")
    error_shape(viewer.delete(f"{url}{task}/"), 403, "forbidden")
    error_shape(member.patch(f"/api/workspaces/{team.ws}/", {"name": ""}, format="json"), 403, "forbidden")
    error_shape(member.post(f"/api/workspaces/{team.ws}/transfer/", {}, format="json"), 403, "forbidden")
    error_shape(admin.post(f"/api/workspaces/{team.ws}/transfer/", {"user_id": "x"}, format="json"), 403)
    error_shape(member.delete(f"/api/workspaces/{team.ws}/invites/not-a-uuid/"), 403, "forbidden")
    # ...but a non-member still learns nothing, and bad input from the right role is 400.
    error_shape(api(team.outsider).post(url, {}, format="json"), 404, "not_found")
    error_shape(member.post(url, {}, format="json"), 400)


def test_transfer_makes_old_owner_admin(team, api):
    response = api(team.owner).post(f"/api/workspaces/{team.ws}/transfer/", {"user_id": team.member2.pk},
                                    format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["owner"] == {"id": team.member2.pk, "username": "member2"}
    assert body["role"] == "admin"
    roles = dict(Membership.objects.filter(workspace_id=team.ws).values_list("user__username", "role"))
    assert roles["owner"] == "admin" and roles["member2"] == "owner"
    assert Workspace.objects.get(pk=team.ws).owner_id == team.member2.pk
    # The old owner can now leave; the new one cannot.
    assert api(team.owner).delete(f"/api/workspaces/{team.ws}/members/{team.owner.pk}/").status_code == 204
    error_shape(api(team.member2).delete(f"/api/workspaces/{team.ws}/members/{team.member2.pk}/"), 409,
                "owner_must_transfer")


def test_retries_replay_though_the_role_changed(team, api):
    """A retried transfer, leave or delete gets its first answer, not 403/404."""
    base_url = f"/api/workspaces/{team.ws}/"
    owner, member = api(team.owner), api(team.member)
    first = owner.post(base_url + "transfer/", {"user_id": team.admin.pk}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    again = owner.post(base_url + "transfer/", {"user_id": team.admin.pk}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    error_shape(owner.post(base_url + "transfer/", {"user_id": team.admin.pk}, format="json"), 403)
    left = member.delete(base_url + f"members/{team.member.pk}/", HTTP_IDEMPOTENCY_KEY="bye")
    assert left.status_code == 204
    assert member.delete(base_url + f"members/{team.member.pk}/", HTTP_IDEMPOTENCY_KEY="bye").status_code == 204
    error_shape(member.delete(base_url + f"members/{team.member.pk}/"), 404)
    # A key of theirs does not open someone else's workspace: the service checks access itself.
    error_shape(member.patch(base_url, {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="other"), 404)
    error_shape(member.get(base_url, HTTP_IDEMPOTENCY_KEY="bye"), 404)
    seq = team.workspace().last_seq
    new_owner = api(team.admin)
    assert new_owner.delete(base_url, HTTP_IDEMPOTENCY_KEY="gone").status_code == 204
    assert new_owner.delete(base_url, HTTP_IDEMPOTENCY_KEY="gone").status_code == 204
    error_shape(new_owner.delete(base_url), 404)
    assert seq > 6 and not Workspace.objects.filter(pk=team.ws).exists()


def test_reused_key_elsewhere_replays_and_writes_nothing(team, api):
    """A key reused on another workspace's URL replays the caller's own answer: nothing is
    written there, and the answer is the same whether that workspace exists or not."""
    import uuid

    from tasks.models import Task
    from workspaces import services

    member = api(team.member)
    first = member.post(f"/api/workspaces/{team.ws}/tasks/", {"title": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201
    other = services.workspace_create(actor=team.outsider, name="Other").data["id"]
    for ws in (other, uuid.uuid4()):
        response = member.post(f"/api/workspaces/{ws}/tasks/", {"title": "b"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 201 and response.json() == first.json()
    assert not Task.objects.filter(workspace_id=other).exists()


def test_transfer_to_non_member_or_self_is_400(team, api):
    client = api(team.owner)
    for user_id in (team.outsider.pk, team.owner.pk, 999999):
        error_shape(client.post(f"/api/workspaces/{team.ws}/transfer/", {"user_id": user_id}, format="json"), 400)
    assert Workspace.objects.get(pk=team.ws).owner_id == team.owner.pk


def test_owner_role_refused_whoever_asks(team, api):
    for who in ("owner", "admin", "member", "viewer"):
        client = api(getattr(team, who))
        error_shape(client.post(f"/api/workspaces/{team.ws}/invites/", {"role": "owner"}, format="json"), 400)
        error_shape(client.patch(f"/api/workspaces/{team.ws}/members/{team.member2.pk}/", {"role": "owner"},
                                 format="json"), 400)
        error_shape(client.post(f"/api/workspaces/{team.ws}/members/", {"username": "outsider", "role": "owner"},
                                format="json"), 400)
    assert Membership.objects.filter(workspace_id=team.ws, role="owner").count() == 1
