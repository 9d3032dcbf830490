"""REST for notifications, the prune command and the admin."""
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(db):
    ann, ben = (get_user_model().objects.create(username=n) for n in ("ann", "ben"))
    now = timezone.now()
    notes = []
    for i in range(3):
        n = Notification.objects.create(user=ann, type="task_assigned", title=f"ann {i}", data={"i": i})
        Notification.objects.filter(pk=n.pk).update(created_at=now - timedelta(minutes=10 - i))
        notes.append(n)
    bens = Notification.objects.create(user=ben, type="mentioned", title="ben's")
    return {"ann": ann, "ben": ben, "notes": notes, "bens": bens}


def test_list_newest_first_paginated_and_unread_filter(inbox, api):
    client = api(inbox["ann"])
    body = client.get("/api/notifications/").json()
    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    assert [n["title"] for n in body["results"]] == ["ann 2", "ann 1", "ann 0"]
    first = body["results"][0]
    assert set(first) == {"id", "type", "title", "message", "data", "workspace", "created_at", "read_at"}
    assert first["created_at"].endswith("Z") and first["read_at"] is None and first["workspace"] is None
    client.post(f"/api/notifications/{inbox['notes'][2].id}/read/")
    unread = client.get("/api/notifications/?unread=true").json()
    assert [n["title"] for n in unread["results"]] == ["ann 1", "ann 0"]
    assert client.get("/api/notifications/?unread=false").json()["count"] == 3
    assert client.get("/api/notifications/?page_size=1").json()["next"]


def test_mark_read_returns_the_notification(inbox, api):
    note = inbox["notes"][0]
    response = api(inbox["ann"]).post(f"/api/notifications/{note.id}/read/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(note.id) and body["read_at"].endswith("Z") and body["data"] == {"i": 0}
    assert api(inbox["ann"]).post(f"/api/notifications/{note.id}/read/").json()["read_at"] == body["read_at"]


def test_someone_elses_notification_is_404(inbox, api):
    for path in (f"/api/notifications/{inbox['bens'].id}/read/", "/api/notifications/not-a-uuid/read/",
                 "/api/notifications/00000000-0000-0000-0000-000000000000/read/"):
        response = api(inbox["ann"]).post(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    inbox["bens"].refresh_from_db()
    assert inbox["bens"].read_at is None
    ids = [n["id"] for n in api(inbox["ann"]).get("/api/notifications/").json()["results"]]
    assert str(inbox["bens"].id) not in ids


def test_read_all_counts_only_own_unread(inbox, api):
    client = api(inbox["ann"])
    client.post(f"/api/notifications/{inbox['notes'][0].id}/read/")
    response = client.post("/api/notifications/read-all/")
    assert response.status_code == 200 and response.json() == {"updated": 2}
    assert client.post("/api/notifications/read-all/").json() == {"updated": 0}
    assert Notification.objects.get(pk=inbox["bens"].pk).read_at is None


def test_anonymous_gets_401(inbox, api):
    assert api().get("/api/notifications/").status_code == 401
    assert api().post("/api/notifications/read-all/").status_code == 401


def test_prune_command_deletes_old_read_ones(inbox):
    old = timezone.now() - timedelta(days=10)
    Notification.objects.filter(pk__in=[inbox["notes"][0].pk, inbox["notes"][1].pk]).update(created_at=old)
    Notification.objects.filter(pk=inbox["notes"][0].pk).update(read_at=timezone.now())
    Notification.objects.filter(pk=inbox["notes"][2].pk).update(read_at=timezone.now())
    out = StringIO()
    call_command("prune_notifications", "--days", "7", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert not Notification.objects.filter(pk=inbox["notes"][0].pk).exists()  # old and read
    assert Notification.objects.count() == 3  # old unread, new read, ben's
    call_command("prune_notifications", "--days", "0", stdout=out)
    assert not Notification.objects.filter(pk=inbox["notes"][2].pk).exists()
    with pytest.raises(CommandError):
        call_command("prune_notifications", "--days", "-1")


def test_admin_lists_filters_and_searches(inbox, client, settings):
    # DEBUG is off in tests, where static files would need collectstatic's manifest.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    root = get_user_model().objects.create(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    base = "/admin/notifications/notification/"

    def titles(query=""):
        response = client.get(base + query)
        assert response.status_code == 200, query
        return sorted(n.title for n in response.context["cl"].result_list)

    assert titles() == ["ann 0", "ann 1", "ann 2", "ben's"]
    for query in ("?type__exact=mentioned", f"?user__id__exact={inbox['ben'].pk}", "?q=ben"):
        assert titles(query) == ["ben's"], query
    Notification.objects.filter(pk=inbox["notes"][1].pk).update(read_at=timezone.now())
    assert titles("?read=yes") == ["ann 1"]
    assert titles("?read=no") == ["ann 0", "ann 2", "ben's"]
    from workspaces import services

    ws = services.workspace_create(actor=inbox["ben"], name="B").data["id"]
    Notification.objects.filter(pk=inbox["bens"].pk).update(workspace_id=ws)
    assert titles(f"?workspace__id__exact={ws}") == ["ben's"]
    assert client.get(f"{base}{inbox['bens'].pk}/change/").status_code == 200
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{inbox['bens'].pk}/delete/").status_code == 403
