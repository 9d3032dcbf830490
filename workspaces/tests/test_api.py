"""REST: auth, workspaces, members and bad input (roles: test_roles.py; invites, events: test_api_*.py)."""
from rest_framework.test import APIClient

from workspaces.models import Event, Membership, Workspace
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import each, error_shape, event_count


def url(t, path=""):
    return f"/api/workspaces/{t.ws}/{path}"


# --- authentication -------------------------------------------------------------------------

def test_register_token_me(api, db):
    client = api()
    response = client.post("/api/auth/register/", {"username": "alice", "password": "c0rrect-horse-battery",
                                                    "email": "a@example.com"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username"} and body["username"] == "alice"
    tokens = client.post("/api/auth/token/", {"username": "alice", "password": "c0rrect-horse-battery"},
                         format="json").json()
    assert set(tokens) >= {"access", "refresh"}
    refreshed = client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200 and "access" in refreshed.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get("/api/auth/me/").json() == {"id": body["id"], "username": "alice", "email": "a@example.com"}


REGISTER_REFUSALS = [
    ({"username": "taken", "password": "c0rrect-horse-battery"}, "username"),
    ({"username": "TAKEN", "password": "c0rrect-horse-battery"}, "username"),
    ({"username": "bob", "password": "123"}, "password"),
    ({"username": "bob", "password": "password"}, "password"),
    ({"username": "bobsmith1", "password": "bobsmith12"}, "password"),
    ({"username": "bob", "password": "12345678901"}, "password"),
    ({"username": "bob"}, "password"),
    ({"password": "c0rrect-horse-battery"}, "username"),
    ({"username": "b" * 151, "password": "c0rrect-horse-battery"}, "username"),
    ({"username": "with space", "password": "c0rrect-horse-battery"}, "username"),
    ({"username": ["bob"], "password": "c0rrect-horse-battery"}, "username"),
    ({"username": 17, "password": "c0rrect-horse-battery"}, "username"),
    ({"username": "bob", "password": "c0rrect-horse-battery", "email": "nope"}, "email"),
    ({"username": "bob\x00", "password": "c0rrect-horse-battery"}, "username"),
]


def test_register_refuses(api, make_user):
    from django.contrib.auth import get_user_model

    make_user("taken")
    client = api()

    def check(case):
        payload, field = case
        body = error_shape(client.post("/api/auth/register/", payload, format="json"), 400)
        assert field in body["fields"], body
        assert get_user_model().objects.count() == 1

    each(REGISTER_REFUSALS, check)


def test_token_bad_credentials_401(api, make_user):
    make_user("carol", password="right-pass-123")
    response = api().post("/api/auth/token/", {"username": "carol", "password": "wrong"}, format="json")
    error_shape(response, 401)
    response = api().post("/api/auth/token/", {"username": "nobody", "password": "x"}, format="json")
    error_shape(response, 401)
    error_shape(api().post("/api/auth/token/", {"username": "carol"}, format="json"), 400)
    error_shape(api().post("/api/auth/token/refresh/", {"refresh": "garbage"}, format="json"), 401)


def test_expired_and_wrong_kind_of_token_401(team, api):
    from datetime import timedelta as td

    from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

    expired = AccessToken.for_user(team.member)
    expired.set_exp(lifetime=-td(seconds=1))
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
    error_shape(client.get(url(team)), 401)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(team.member)}")
    error_shape(client.get(url(team)), 401)
    access = str(AccessToken.for_user(team.member))
    error_shape(api().post("/api/auth/token/refresh/", {"refresh": access}, format="json"), 401)


def test_no_credentials_401(team, api):
    paths = [
        ("get", "/api/auth/me/"), ("get", "/api/workspaces/"), ("post", "/api/workspaces/"),
        ("post", "/api/workspaces/join/"), ("get", url(team)), ("get", url(team, "tasks/")),
        ("post", url(team, "tasks/")), ("get", url(team, "events/")), ("delete", url(team)),
        ("patch", url(team, f"members/{team.member.pk}/")), ("get", url(team, "invites/")),
    ]
    anonymous, garbage = api(), api()
    garbage.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    def check(case):
        method, path = case
        error_shape(getattr(anonymous, method)(path, {}, format="json"), 401, "not_authenticated")
        error_shape(getattr(garbage, method)(path, {}, format="json"), 401)

    each(paths, check)
    assert Workspace.objects.filter(pk=team.ws).exists() and event_count(team.ws) == 6


def test_session_writes_need_csrf(team):
    from django.middleware.csrf import _get_new_csrf_string

    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="member", password="pass-word-123")
    assert client.get(url(team)).status_code == 200  # reads need no token
    before = event_count(team.ws)
    error_shape(client.post(url(team, "tasks/"), {"title": "x"}, format="json"), 403)
    assert event_count(team.ws) == before
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    response = client.post(url(team, "tasks/"), {"title": "x"}, format="json", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 201
    assert event_count(team.ws) == before + 1


# --- workspaces -----------------------------------------------------------------------------

def test_workspace_create_list_update_delete(api, make_user):
    user = make_user("w")
    client = api(user)
    response = client.post("/api/workspaces/", {"name": "Mine", "settings": {"color": "red"}}, format="json")
    assert response.status_code == 201
    ws = response.json()
    assert set(ws) == {"id", "name", "description", "settings", "owner", "role", "created_at", "updated_at"}
    assert ws["role"] == "owner" and ws["owner"] == {"id": user.pk, "username": "w"}
    assert ws["description"] == "" and ws["settings"] == {"color": "red"} and ws["created_at"].endswith("Z")
    assert Workspace.objects.get(pk=ws["id"]).last_seq == 0 and event_count(ws["id"]) == 0
    page = client.get("/api/workspaces/").json()
    assert page["count"] == 1 and page["results"][0]["id"] == ws["id"] and page["next"] is None
    patched = client.patch(f"/api/workspaces/{ws['id']}/", {"description": "about"}, format="json").json()
    assert patched["description"] == "about" and patched["name"] == "Mine"
    event = Event.objects.get(workspace_id=ws["id"])
    assert event.type == "workspace.updated" and event.seq == 1 and "role" not in event.data
    assert event.data["description"] == "about"
    assert client.delete(f"/api/workspaces/{ws['id']}/").status_code == 204
    assert not Workspace.objects.filter(pk=ws["id"]).exists()
    error_shape(client.get(f"/api/workspaces/{ws['id']}/"), 404, "not_found")


def test_workspace_create_idempotent(api, make_user):
    client = api(make_user("w"))
    first = client.post("/api/workspaces/", {"name": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="ws-1")
    again = client.post("/api/workspaces/", {"name": "Twice"}, format="json", HTTP_IDEMPOTENCY_KEY="ws-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Workspace.objects.count() == 1
    error_shape(client.post("/api/workspaces/", {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 65), 400)
    assert Workspace.objects.count() == 1


def test_wrong_methods_and_unknown_urls(team, api):
    client = api(team.owner)
    for method, path in (("put", url(team)), ("post", url(team)), ("put", url(team, "tasks/")),
                         ("patch", "/api/auth/me/"), ("get", "/api/workspaces/join/"),
                         ("get", url(team, "transfer/"))):
        body = error_shape(getattr(client, method)(path, {}, format="json"), 405)
        assert body["code"] == "method_not_allowed"
    error_shape(client.get("/api/nothing-here/"), 404, "not_found")
    error_shape(client.get(url(team, "tasks/x/y/")), 404, "not_found")
    assert Workspace.objects.filter(pk=team.ws).exists()


def test_huge_body_refused(team, api):
    client = api(team.owner)
    body = error_shape(client.post(url(team, "tasks/"), {"title": "t", "description": "x" * 3_000_000},
                                   format="json"), 400)
    assert "description" in body["fields"]
    assert event_count(team.ws) == 6


def test_workspace_list_pagination(api, make_user):
    from workspaces import services

    user = make_user("many")
    for i in range(7):
        services.workspace_create(actor=user, name=f"W{i}")
    client = api(user)
    page = client.get("/api/workspaces/?page_size=3").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 7 and len(page["results"]) == 3 and page["previous"] is None and page["next"]
    last = client.get("/api/workspaces/?page_size=3&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None and last["previous"]
    for size in ("0", "-5", "abc", "9999999999999999999999"):
        assert client.get(f"/api/workspaces/?page_size={size}").status_code == 200
    error_shape(client.get("/api/workspaces/?page=99"), 404)
    assert api(make_user("other")).get("/api/workspaces/").json()["count"] == 0


def test_workspace_create_refuses(api, make_user):
    client = api(make_user("w"))
    payloads = [
        {}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": 5}, {"name": None}, {"name": ["a"]},
        {"name": "ok", "settings": []}, {"name": "ok", "settings": "a string"}, {"name": "ok", "settings": 3},
        {"name": "ok", "settings": None}, {"name": "ok", "description": "d" * 5001},
        {"name": "ok", "description": 7}, {"name": "a\x00b"}, {"name": "ok", "settings": {"k": "nul\x00"}},
        {"name": "ok", "settings": {"\x00": 1}}, {"name": "ok", "settings": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
            [[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}, {"name": True}, {"name": {"x": 1}}, {"name": 1.5},
    ]

    def check(payload):
        error_shape(client.post("/api/workspaces/", payload, format="json"), 400)
        assert not Workspace.objects.exists()

    each(payloads, check)


def test_workspace_update_refuses(team, api):
    client = api(team.owner)
    before = team.workspace()
    payloads = [{"name": ""}, {"name": "x" * 201}, {"name": None}, {"name": 3}, {"settings": []}, {"settings": "s"},
                {"description": "d" * 5001}, {"settings": {"a": ["\x00"]}}, ["name"], "name"]

    def check(payload):
        error_shape(client.patch(url(team), payload, format="json"), 400)
        after = team.workspace()
        assert (after.name, after.description, after.settings, after.last_seq) == (
            before.name, before.description, before.settings, before.last_seq)

    each(payloads, check)


MALFORMED = [
    (b"{not json", "application/json"), (b"", "application/json"), (b"[" * 50000, "application/json"),
    (b'{"name": NaN}', "application/json"), (b"\xff\xfe", "application/json"), (b"name=x", "text/plain"),
    (b"[]", "application/json"), (b'"name"', "application/json"), (b"null", "application/json"),
    (b"17", "application/json"),
]


def test_malformed_bodies(team, api):
    from tasks.services import task_create

    task = task_create(actor=team.owner, workspace_id=team.ws, title="t").data["id"]
    client = api(team.owner)
    before = event_count(team.ws), Workspace.objects.count()
    endpoints = [("post", "/api/workspaces/"), ("post", url(team, "tasks/")), ("post", url(team, "members/")),
                 ("post", "/api/workspaces/join/"), ("post", url(team, "transfer/")),
                 ("patch", url(team, f"members/{team.member.pk}/")), ("patch", url(team, f"tasks/{task}/"))]

    def check(case):
        body, content_type = case
        # An empty body is an empty object: fine for a workspace PATCH or an invite with defaults.
        extra = [] if body == b"" else [("patch", url(team)), ("post", url(team, "invites/"))]
        for method, path in endpoints + extra:
            response = getattr(client, method)(path, body, content_type=content_type)
            assert 400 <= response.status_code < 500, (method, path, response.status_code)
            error_shape(response, response.status_code)
        assert (event_count(team.ws), Workspace.objects.count()) == before

    each(MALFORMED, check)


def test_unstorable_text_refused(api, make_user):
    client = api(make_user("w"))
    bodies = [b'{"name": "ok", "settings": {"k": "\\ud800"}}', b'{"name": "ok", "settings": {"\\udfff": 1}}',
              b'{"name": "ok", "settings": {"k": "\\u0000"}}', b'{"name": "\\ud800"}', b'{"name": "a\\u0000"}']

    def check(body):
        error_shape(client.post("/api/workspaces/", body, content_type="application/json"), 400)
        assert not Workspace.objects.exists()

    each(bodies, check)


def test_non_uuid_path_segments_are_404(team, api):
    client = api(team.owner)
    segments = ["not-a-uuid", "1", "%20", "..", "00000000-0000-0000-0000-00000000000g", "9" * 40, "%00"]

    def check(segment):
        for path in (f"/api/workspaces/{segment}/", f"/api/workspaces/{segment}/tasks/",
                     url(team, f"tasks/{segment}/")):
            error_shape(client.get(path), 404)
        error_shape(client.delete(url(team, f"invites/{segment}/")), 404)

    each(segments, check)


# --- members --------------------------------------------------------------------------------

def test_members_list_and_add(team, api, make_user):
    members = api(team.viewer).get(url(team, "members/")).json()
    assert isinstance(members, list) and len(members) == 7
    assert members[0] == {"user": {"id": team.owner.pk, "username": "owner"}, "role": "owner",
                          "joined_at": members[0]["joined_at"]}
    response = api(team.admin).post(url(team, "members/"), {"username": "outsider"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "member" and response.json()["user"]["username"] == "outsider"
    event = Event.objects.filter(workspace_id=team.ws).order_by("-seq").first()
    assert event.type == "member.joined" and event.data == {
        "user": {"id": team.outsider.pk, "username": "outsider"}, "role": "member"}
    assert event.actor_id == team.admin.pk


def test_member_add_refuses(team, api):
    client = api(team.owner)
    before = event_count(team.ws), Membership.objects.count()
    payloads = [{}, {"username": "nobody"}, {"username": "member"}, {"username": "outsider", "role": "boss"},
                {"username": "outsider", "role": None}, {"username": 12}, {"username": "u" * 151},
                {"username": ["a"]}, {"username": "owner"}]

    def check(payload):
        error_shape(client.post(url(team, "members/"), payload, format="json"), 400)
        assert (event_count(team.ws), Membership.objects.count()) == before

    each(payloads, check)


def test_member_role_change_refuses(team, api):
    client = api(team.owner)
    before = event_count(team.ws)
    cases = [("member", {}, 400), ("member", {"role": "chief"}, 400), ("member", {"role": 1}, 400),
             ("member", {"role": None}, 400), ("outsider", {"role": "viewer"}, 404), (None, {"role": "viewer"}, 404)]

    def check(case):
        target, payload, status = case
        user_id = getattr(team, target).pk if target else 987654
        error_shape(client.patch(url(team, f"members/{user_id}/"), payload, format="json"), status)
        assert event_count(team.ws) == before

    each(cases, check)


def test_member_path_ids(team, api):
    client = api(team.owner)
    before = event_count(team.ws)

    def check(user_id):
        error_shape(client.patch(url(team, f"members/{user_id}/"), {"role": "viewer"}, format="json"), 404)
        error_shape(client.delete(url(team, f"members/{user_id}/")), 404)
        assert event_count(team.ws) == before

    each(["abc", "-1", "0", "1.5", str(2**31), str(2**63), str(2**64), "9" * 30, "%00", "１", "%201", "1%20", "+1"], check)


def test_transfer_refuses(team, api):
    client = api(team.owner)

    def check(payload):
        error_shape(client.post(url(team, "transfer/"), payload, format="json"), 400)
        assert team.workspace().owner_id == team.owner.pk and event_count(team.ws) == 6

    each([{}, {"user_id": "abc"}, {"user_id": 2**63}, {"user_id": -1}, {"user_id": True}, {"user_id": None},
          {"user_id": 1.5}, {"user_id": [1]}], check)


def test_role_change_and_remove_events(team, api):
    client = api(team.owner)
    response = client.patch(url(team, f"members/{team.member2.pk}/"), {"role": "admin"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    event = Event.objects.filter(workspace_id=team.ws).order_by("-seq").first()
    assert event.type == "member.role_changed" and event.data["role"] == "admin"
    assert client.delete(url(team, f"members/{team.member2.pk}/")).status_code == 204
    event = Event.objects.filter(workspace_id=team.ws).order_by("-seq").first()
    assert event.type == "member.removed" and event.data == {
        "user": {"id": team.member2.pk, "username": "member2"}, "role": "admin"}
    error_shape(api(team.member2).get(url(team)), 404)
