"""REST for tasks: shape, defaults, filters, pagination, conflicts, retries, bad input."""
import uuid

from tasks import services
from tasks.models import Task
from workspaces.models import Event, OperationRecord
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import each, error_shape, event_count

TASK_KEYS = {"id", "workspace", "title", "description", "status", "priority", "due_date", "assigned_to",
             "position", "created_by", "version", "created_at", "updated_at"}


def tasks_url(t, task_id=None):
    return f"/api/workspaces/{t.ws}/tasks/" + (f"{task_id}/" if task_id else "")


def _make(t, actor=None, **fields):
    return services.task_create(actor=actor or t.owner, workspace_id=t.ws, **{"title": "T", **fields}).data


def _last_event(t):
    return Event.objects.filter(workspace_id=t.ws).order_by("-seq").first()


def test_create_defaults_and_shape(team, api):
    client = api(team.member)
    response = client.post(tasks_url(team), {"title": "First"}, format="json")
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_KEYS
    assert task["workspace"] == team.ws and task["status"] == "todo" and task["priority"] == 0
    assert task["description"] == "" and task["due_date"] is None and task["assigned_to"] is None
    assert task["created_by"] == team.member.pk and task["version"] == 1 and task["position"] == 1.0
    assert task["created_at"].endswith("Z") and task["updated_at"].endswith("Z")
    second = client.post(tasks_url(team), {"title": "Second", "position": 0.5}, format="json").json()
    third = client.post(tasks_url(team), {"title": "Third"}, format="json").json()
    assert second["position"] == 0.5 and third["position"] == 2.0
    listed = client.get(tasks_url(team)).json()["results"]
    assert [t["title"] for t in listed] == ["Second", "First", "Third"]
    event = _last_event(team)
    assert event.type == "task.created" and event.data == third and event.actor_id == team.member.pk
    assert client.get(tasks_url(team, task["id"])).json() == task


def test_create_all_fields_and_server_fields_ignored(team, api):
    payload = {"title": "Full", "description": "d", "status": "in_progress", "priority": 3, "due_date": "2030-01-31",
               "assigned_to": team.viewer.pk, "position": -4.25, "id": str(uuid.uuid4()),
               "workspace": str(uuid.uuid4()), "created_by": team.viewer.pk, "version": 99,
               "created_at": "2000-01-01T00:00:00Z"}
    task = api(team.admin).post(tasks_url(team), payload, format="json").json()
    assert task["id"] != payload["id"] and task["workspace"] == team.ws
    assert task["created_by"] == team.admin.pk and task["version"] == 1 and not task["created_at"].startswith("2000")
    assert (task["status"], task["priority"], task["due_date"], task["assigned_to"], task["position"]) == (
        "in_progress", 3, "2030-01-31", team.viewer.pk, -4.25)


def test_update_and_changed(team, api):
    task = _make(team, description="old")
    client = api(team.member)
    response = client.patch(tasks_url(team, task["id"]),
                            {"version": 1, "status": "done", "description": "old", "workspace": "x", "id": "y"},
                            format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 2 and body["status"] == "done" and body["id"] == task["id"]
    event = _last_event(team)
    assert event.type == "task.updated" and event.data["changed"] == ["status"]
    assert {k: v for k, v in event.data.items() if k != "changed"} == body
    assert client.delete(tasks_url(team, task["id"])).status_code == 204
    event = _last_event(team)
    assert event.type == "task.deleted" and event.data == {"id": task["id"]}
    error_shape(client.get(tasks_url(team, task["id"])), 404)
    error_shape(client.delete(tasks_url(team, task["id"])), 404)


def test_field_merge_and_conflicts(team, api):
    task = _make(team)
    a, b = api(team.member), api(team.admin)
    # Both saw version 1; different fields merge, each answer is the newest version.
    first = a.patch(tasks_url(team, task["id"]), {"version": 1, "title": "A"}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    second = b.patch(tasks_url(team, task["id"]), {"version": 1, "priority": 2}, format="json")
    assert second.status_code == 200
    merged = second.json()
    assert merged["version"] == 3 and merged["title"] == "A" and merged["priority"] == 2
    # The same field from a stale version is refused with the current task and the clashing names.
    seq = team.workspace().last_seq
    clash = b.patch(tasks_url(team, task["id"]), {"version": 1, "title": "B", "status": "done"}, format="json")
    body = error_shape(clash, 409, "conflict")
    assert body["fields"] == ["title"] and body["current"] == merged
    # Setting a field to the value it has still counts as touching it.
    body = error_shape(b.patch(tasks_url(team, task["id"]), {"version": 2, "priority": 2}, format="json"), 409)
    assert body["fields"] == ["priority"]
    # Versions the task never had.
    for version in (4, 0, -1, 2**31 - 1):
        body = error_shape(a.patch(tasks_url(team, task["id"]), {"version": version, "status": "done"},
                                   format="json"), 409, "conflict")
        assert body["current"]["version"] == 3 and body["fields"] == ["status"]
    body = error_shape(a.patch(tasks_url(team, task["id"]), {"version": 7}, format="json"), 409, "conflict")
    assert body["fields"] == []
    assert team.workspace().last_seq == seq and Task.objects.get(pk=task["id"]).version == 3
    # Up to date: applies.
    ok = a.patch(tasks_url(team, task["id"]), {"version": 3, "title": "C"}, format="json")
    assert ok.status_code == 200 and ok.json()["version"] == 4


def test_patch_version_required_and_bounded(team, api):
    task = _make(team)
    client = api(team.owner)
    payloads = [{"title": "x"}, {"version": None, "title": "x"}, {"version": "one"}, {"version": 1.5},
                {"version": True}, {"version": 2**63}, {"version": 2**31}, {"version": -(2**63)}, {"version": [1]}]

    def check(payload):
        error_shape(client.patch(tasks_url(team, task["id"]), payload, format="json"), 400)
        assert Task.objects.get(pk=task["id"]).version == 1 and _last_event(team).type == "task.created"

    each(payloads, check)


BAD_TASK_FIELDS = [
    {"title": ""}, {"title": "   "}, {"title": "x" * 501}, {"title": None}, {"title": 5}, {"title": ["x"]},
    {"title": {"a": 1}}, {"title": True}, {"title": "a\x00b"}, {"description": "d" * 20001},
    {"description": None}, {"description": 3}, {"status": "doing"}, {"status": None}, {"status": 1},
    {"priority": 4}, {"priority": -1}, {"priority": "high"}, {"priority": 1.5}, {"priority": True},
    {"priority": None}, {"priority": 2**63}, {"due_date": "tomorrow"}, {"due_date": "2025-13-01"},
    {"due_date": 20250101}, {"due_date": "2025-01-01T10:00:00Z"}, {"assigned_to": "me"}, {"assigned_to": 2**63},
    {"assigned_to": 2**31}, {"assigned_to": 999999}, {"assigned_to": -3}, {"assigned_to": 0},
    {"assigned_to": True}, {"assigned_to": 1.5}, {"assigned_to": [1]}, {"position": "NaN"},
    {"position": "Infinity"}, {"position": "-Infinity"}, {"position": "1e400"}, {"position": None},
    {"position": "left"}, {"position": True}, {"position": 1e13}, {"position": [1]},
]


def test_bad_task_fields_create_and_update(team, api):
    task = _make(team)
    client = api(team.owner)
    seq, count = team.workspace().last_seq, Task.objects.count()

    def check(fields):
        error_shape(client.post(tasks_url(team), {"title": "ok", **fields}, format="json"), 400)
        error_shape(client.patch(tasks_url(team, task["id"]), {"version": 1, **fields}, format="json"), 400)
        assert (team.workspace().last_seq, Task.objects.count()) == (seq, count)
        assert Task.objects.get(pk=task["id"]).version == 1

    each(BAD_TASK_FIELDS, check)


RAW_BODIES = [
    b'{"title": "x", "position": 1e400}', b'{"title": "x", "position": -1e400}',
    b'{"title": "x", "position": Infinity}', b'{"title": "x", "position": NaN}',
    b'{"title": "x", "priority": 1e400}', b'{"title": "x", "assigned_to": 1e400}',
    b'{"title": "x", "assigned_to": 9223372036854775808}', b'{"title": "x", "priority": 18446744073709551616}',
    b'{"title": "\\u0000"}', b'{"title": "\\ud800"}', b'{"title": "x", "description": "\\udfff"}',
]


def test_raw_json_numbers_and_text(team, api):
    client = api(team.owner)
    task = _make(team)

    def check(body):
        error_shape(client.post(tasks_url(team), body, content_type="application/json"), 400)
        patch = body.replace(b'{"title": "x", ', b'{"version": 1, ').replace(b'{"title": "\\',
                                                                            b'{"version": 1, "title": "\\')
        error_shape(client.patch(tasks_url(team, task["id"]), patch, content_type="application/json"), 400)
        assert Task.objects.count() == 1 and Task.objects.get().version == 1

    each(RAW_BODIES, check)


def test_null_title_update_refused(team, api):
    task = _make(team)
    error_shape(api(team.owner).patch(tasks_url(team, task["id"]), {"version": 1, "title": None}, format="json"), 400)


def test_assign_to_non_member_and_outsider_refused(team, api):
    task = _make(team)
    client = api(team.owner)
    for user_id in (team.outsider.pk, 424242):
        body = error_shape(client.patch(tasks_url(team, task["id"]), {"version": 1, "assigned_to": user_id},
                                        format="json"), 400)
        assert "assigned_to" in body["fields"]
        error_shape(client.post(tasks_url(team), {"title": "x", "assigned_to": user_id}, format="json"), 400)
    ok = client.patch(tasks_url(team, task["id"]), {"version": 1, "assigned_to": team.viewer.pk}, format="json")
    assert ok.status_code == 200 and ok.json()["assigned_to"] == team.viewer.pk
    cleared = client.patch(tasks_url(team, task["id"]), {"version": 2, "assigned_to": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["assigned_to"] is None


def test_other_workspace_task_ids_are_404(team, api, make_user):
    from workspaces import services as ws_services

    stranger = make_user("stranger")
    other_ws = ws_services.workspace_create(actor=stranger, name="Other").data["id"]
    other_task = services.task_create(actor=stranger, workspace_id=other_ws, title="Theirs").data
    client = api(team.owner)
    error_shape(client.get(tasks_url(team, other_task["id"])), 404)
    error_shape(client.patch(tasks_url(team, other_task["id"]), {"version": 1, "title": "mine"}, format="json"), 404)
    error_shape(client.delete(tasks_url(team, other_task["id"])), 404)
    assert Task.objects.get(pk=other_task["id"]).title == "Theirs"
    for segment in ("nope", str(uuid.uuid4()), "1", "9" * 50):
        error_shape(client.get(tasks_url(team, segment)), 404)
        error_shape(client.patch(tasks_url(team, segment), {"version": 1}, format="json"), 404)
        error_shape(client.delete(tasks_url(team, segment)), 404)


def test_filters_and_search(team, api):
    _make(team, title="Write report", status="done", assigned_to=team.member.pk)
    _make(team, title="Review", description="the REPORT draft", assigned_to=team.admin.pk)
    _make(team, title="Lunch", status="in_progress")
    client = api(team.viewer)

    def titles(query):
        response = client.get(tasks_url(team) + query)
        assert response.status_code == 200, response.content
        return [t["title"] for t in response.json()["results"]]

    assert titles("?q=report") == ["Write report", "Review"]
    assert titles("?q=rEpOrT&status=todo") == ["Review"]
    assert titles("?status=done") == ["Write report"]
    assert titles(f"?assigned_to={team.admin.pk}") == ["Review"]
    assert titles("?assigned_to=null") == ["Lunch"]
    assert titles("?assigned_to=999") == []
    assert titles("?q=") == ["Write report", "Review", "Lunch"]
    assert titles("?q=%25") == []  # a literal %, not a wildcard
    for bad in ("?status=doing", "?assigned_to=abc", f"?assigned_to={2**63}", "?q=" + "x" * 201, "?q=%00",
                "?status=%00", "?assigned_to=%00", "?assigned_to=-1", "?assigned_to=%C2%B2", "?assigned_to=1.0"):
        error_shape(client.get(tasks_url(team) + bad), 400)


def test_pagination(team, api):
    Task.objects.bulk_create([Task(workspace_id=team.ws, title=f"t{i:03}", position=i) for i in range(520)])
    client = api(team.member)
    page = client.get(tasks_url(team)).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 520 and len(page["results"]) == 100 and page["previous"] is None
    assert page["results"][0]["title"] == "t000" and "page=2" in page["next"]
    second = client.get(page["next"]).json()
    assert second["results"][0]["title"] == "t100" and second["previous"]
    assert len(client.get(tasks_url(team) + "?page_size=1000").json()["results"]) == 500
    assert len(client.get(tasks_url(team) + "?page_size=7").json()["results"]) == 7
    assert len(client.get(tasks_url(team) + "?page_size=0").json()["results"]) == 1
    last = client.get(tasks_url(team) + "?page_size=500&page=2").json()
    assert len(last["results"]) == 20 and last["next"] is None


# --- idempotent retries ---------------------------------------------------------------------

def test_idempotency_key_replays_first_answer(team, api):
    client = api(team.member)
    first = client.post(tasks_url(team), {"title": "Once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    events = event_count(team.ws)
    again = client.post(tasks_url(team), {"title": "Different body"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert Task.objects.filter(workspace_id=team.ws).count() == 1 and event_count(team.ws) == events
    record = OperationRecord.objects.get(user=team.member, key="k-1")
    assert record.seq == _last_event(team).seq and _last_event(team).op_id == "k-1"
    # Another user with the same key is independent.
    other = api(team.admin).post(tasks_url(team), {"title": "Theirs"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert event_count(team.ws) == events + 1
    # Updates and deletes replay too.
    task_id = first.json()["id"]
    up1 = client.patch(tasks_url(team, task_id), {"version": 1, "title": "U"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="k-2")
    up2 = client.patch(tasks_url(team, task_id), {"version": 1, "title": "V"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="k-2")
    assert up1.status_code == up2.status_code == 200 and up1.json() == up2.json()
    assert Task.objects.get(pk=task_id).version == 2
    d1 = client.delete(tasks_url(team, task_id), HTTP_IDEMPOTENCY_KEY="k-3")
    d2 = client.delete(tasks_url(team, task_id), HTTP_IDEMPOTENCY_KEY="k-3")
    assert d1.status_code == d2.status_code == 204
    assert event_count(team.ws) == events + 3


def test_failed_write_is_not_recorded(team, api):
    client = api(team.member)
    error_shape(client.post(tasks_url(team), {"title": "x", "assigned_to": 999999}, format="json",
                            HTTP_IDEMPOTENCY_KEY="retry-me"), 400)
    assert not OperationRecord.objects.filter(key="retry-me").exists()
    assert client.post(tasks_url(team), {"title": "x"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 201


def test_idempotency_key_length(team, api):
    client = api(team.member)

    def check(key):
        error_shape(client.post(tasks_url(team), {"title": "x"}, format="json", HTTP_IDEMPOTENCY_KEY=key), 400)
        assert not Task.objects.exists() and not OperationRecord.objects.exists()

    each(["k" * 65, "", "a\x00b"], check)


def test_idempotency_key_64_chars_ok(team, api):
    response = api(team.member).post(tasks_url(team), {"title": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 64)
    assert response.status_code == 201


def test_rest_keys_and_socket_op_ids_share_one_space(team, api):
    via_socket = services.task_create(actor=team.member, workspace_id=team.ws, title="socket", op_id="shared")
    response = api(team.member).post(tasks_url(team), {"title": "rest"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201 and response.json() == via_socket.data
    assert Task.objects.count() == 1
