"""The Django admin shows workspaces, tasks and the event log, and writes nothing."""
import pytest
from django.contrib import admin as django_admin

from tasks import services as task_services
from tasks.models import Task
from workspaces import services
from workspaces.models import Event, Invite, Membership, OperationRecord, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests run with DEBUG off, where static files need collectstatic's manifest.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    # Three users a test: the production hasher would make hashing most of the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def board(make_user):
    owner, member = make_user("owner"), make_user("member")
    ws = services.workspace_create(actor=owner, name="Alpha team").data["id"]
    services.member_add(actor=owner, workspace_id=ws, username="member", role="member")
    invite, _token = services.invite_create(actor=owner, workspace_id=ws, role="viewer")
    done = task_services.task_create(actor=owner, workspace_id=ws, title="Ship the release", status="done",
                                     priority=3, assigned_to=member.pk, op_id="op-1").data
    todo = task_services.task_create(actor=member, workspace_id=ws, title="Write docs",
                                     description="mention the needle here").data
    other_ws = services.workspace_create(actor=member, name="Beta team").data["id"]
    task_services.task_create(actor=member, workspace_id=other_ws, title="Beta chore")
    return {"ws": ws, "other_ws": other_ws, "owner": owner, "member": member, "invite": invite,
            "done": done["id"], "todo": todo["id"]}


def _titles(response) -> set[str]:
    return {str(t) for t in response.context["cl"].result_list}


@pytest.mark.parametrize("model", [Workspace, Membership, Invite, Event, OperationRecord, Task])
def test_changelists_answer(admin_client, board, model):
    response = admin_client.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_workspace_page_shows_members_and_invites_but_never_the_token_hash(admin_client, board):
    response = admin_client.get(f"/admin/workspaces/workspace/{board['ws']}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Alpha team" in body and "member" in body
    invite = Invite.objects.get(pk=board["invite"].pk)
    assert str(invite.pk) in body
    assert invite.token_hash not in body
    assert "token_hash" not in body
    tasks_link = f"/admin/tasks/task/?workspace__id__exact={board['ws']}"
    assert tasks_link in body
    assert _titles(admin_client.get(tasks_link)) == {"Ship the release", "Write docs"}
    invite_page = admin_client.get(f"/admin/workspaces/invite/{invite.pk}/change/")
    assert invite_page.status_code == 200
    assert invite.token_hash not in invite_page.content.decode()


def test_change_pages_answer(admin_client, board):
    event = Event.objects.filter(workspace_id=board["ws"]).first()
    membership = Membership.objects.filter(workspace_id=board["ws"]).first()
    record = OperationRecord.objects.get(key="op-1")
    for url in (f"/admin/tasks/task/{board['done']}/change/",
                f"/admin/workspaces/event/{event.pk}/change/",
                f"/admin/workspaces/membership/{membership.pk}/change/",
                f"/admin/workspaces/operationrecord/{record.pk}/change/"):
        assert admin_client.get(url).status_code == 200, url


def test_task_search_and_filters(admin_client, board):
    url = "/admin/tasks/task/"
    assert _titles(admin_client.get(url, {"q": "needle"})) == {"Write docs"}
    assert _titles(admin_client.get(url, {"q": "release"})) == {"Ship the release"}
    assert _titles(admin_client.get(url, {"status__exact": "done"})) == {"Ship the release"}
    assert _titles(admin_client.get(url, {"priority__exact": "3"})) == {"Ship the release"}
    assert _titles(admin_client.get(url, {"workspace__id__exact": board["other_ws"]})) == {"Beta chore"}
    assert _titles(admin_client.get(url, {"assigned_to__id__exact": board["member"].pk})) == {"Ship the release"}


def test_event_log_lists_by_workspace_and_type(admin_client, board):
    response = admin_client.get("/admin/workspaces/event/", {"workspace__id__exact": board["ws"],
                                                             "type": "task.created"})
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [e.seq for e in rows] == [3, 2]
    assert {e.type for e in rows} == {"task.created"}


def test_event_log_cannot_be_edited(admin_client, board):
    event = Event.objects.filter(workspace_id=board["ws"]).order_by("seq").first()
    before = (event.type, event.data)
    base = "/admin/workspaces/event/"
    assert admin_client.post(f"{base}{event.pk}/change/", {"type": "task.deleted", "seq": 99}).status_code == 403
    assert admin_client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{base}add/").status_code == 403
    response = admin_client.post(base, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert Event.objects.filter(pk=event.pk).exists()
    event.refresh_from_db()
    assert (event.type, event.data) == before
    actions = admin_client.get(base).context["cl"].model_admin.get_actions(response.wsgi_request)
    assert "delete_selected" not in actions


def test_no_model_admin_can_write(rf, admin_user):
    request = rf.get("/admin/")
    request.user = admin_user
    for model in (Workspace, Membership, Invite, Event, OperationRecord, Task):
        model_admin = django_admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        for inline in model_admin.get_inline_instances(request):
            assert not inline.has_add_permission(request, None)
            assert not inline.has_change_permission(request)
            assert not inline.has_delete_permission(request)


def test_workspace_and_task_posts_change_nothing(admin_client, board):
    assert admin_client.post(f"/admin/workspaces/workspace/{board['ws']}/change/",
                             {"name": "Renamed"}).status_code == 403
    assert admin_client.post(f"/admin/tasks/task/{board['todo']}/change/",
                             {"title": "Renamed", "status": "done"}).status_code == 403
    assert Workspace.objects.get(pk=board["ws"]).name == "Alpha team"
    task = Task.objects.get(pk=board["todo"])
    assert (task.title, task.status, task.version) == ("Write docs", "todo", 1)
    assert Workspace.objects.get(pk=board["ws"]).last_seq == Event.objects.filter(workspace_id=board["ws"]).count()


def test_users_in_a_workspace_cannot_be_deleted_from_the_admin(admin_client, board, make_user):
    member = board["member"]
    loner = make_user("loner")
    assert admin_client.get(f"/admin/auth/user/{member.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/auth/user/{member.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Membership.objects.filter(user=member).count() == 2
    response = admin_client.post("/admin/auth/user/", {"action": "delete_selected",
                                                       "_selected_action": [member.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    assert type(member).objects.filter(pk=member.pk).exists()
    assert admin_client.post(f"/admin/auth/user/{loner.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not type(loner).objects.filter(pk=loner.pk).exists()
