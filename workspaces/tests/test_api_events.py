"""REST: the event log endpoint."""
from django.utils import timezone

from workspaces.models import Event, Workspace
from workspaces.tests.fixtures import *  # noqa: F403
from workspaces.tests.fixtures import error_shape, event_count


def url(t, path=""):
    return f"/api/workspaces/{t.ws}/{path}"


# --- the event log --------------------------------------------------------------------------

def test_events_endpoint(team, api, settings):
    from tasks import services as task_services

    for i in range(5):
        task_services.task_create(actor=team.member, workspace_id=team.ws, title=f"t{i}")
    client = api(team.viewer)
    body = client.get(url(team, "events/")).json()
    assert set(body) == {"results", "has_more"} and body["has_more"] is False
    assert [e["seq"] for e in body["results"]] == list(range(1, 12))
    event = body["results"][-1]
    assert set(event) == {"type", "seq", "ts", "actor", "op_id", "data"}
    assert event["type"] == "task.created" and event["actor"] == {"id": team.member.pk, "username": "member"}
    assert event["ts"].endswith("Z") and event["data"]["title"] == "t4"
    page = client.get(url(team, "events/?since=3&limit=4")).json()
    assert [e["seq"] for e in page["results"]] == [4, 5, 6, 7] and page["has_more"] is True
    tail = client.get(url(team, "events/?since=7&limit=4")).json()
    assert [e["seq"] for e in tail["results"]] == [8, 9, 10, 11] and tail["has_more"] is False
    assert client.get(url(team, "events/?since=11")).json() == {"results": [], "has_more": False}
    assert client.get(url(team, "events/?since=500")).json() == {"results": [], "has_more": False}
    assert len(client.get(url(team, "events/?limit=0")).json()["results"]) == 1
    assert len(client.get(url(team, "events/?limit=-3")).json()["results"]) == 1
    assert len(client.get(url(team, "events/?limit=100000")).json()["results"]) == 11
    assert len(client.get(url(team, f"events/?limit={2**70}")).json()["results"]) == 11
    assert client.get(url(team, "events/?since=-4")).json()["results"][0]["seq"] == 1
    assert client.get(url(team, f"events/?since={2**63}")).json() == {"results": [], "has_more": False}
    assert client.get(url(team, f"events/?since={2**70}")).json() == {"results": [], "has_more": False}
    for bad in ("since=abc", "since=1.5", "limit=x", "limit=1e3"):
        error_shape(client.get(url(team, f"events/?{bad}")), 400)


def test_events_limit_clamped_to_1000(team, api):
    # Test set-up only: a long log written directly, rather than 1000 service calls.
    workspace = team.workspace()
    start = workspace.last_seq
    Event.objects.bulk_create([Event(workspace=workspace, seq=start + i, type="task.deleted", data={"id": str(i)},
                                     ts=timezone.now()) for i in range(1, 1011)])
    Workspace.objects.filter(pk=team.ws).update(last_seq=start + 1010)
    body = api(team.owner).get(url(team, "events/?limit=5000")).json()
    assert len(body["results"]) == 1000 and body["has_more"] is True
    assert body["results"][0]["seq"] == 1 and body["results"][-1]["seq"] == 1000


def test_events_resync_and_pruning(team, api, settings, monkeypatch):
    from tasks import services as task_services
    from workspaces import events

    settings.EVENT_LOG_KEEP = 5
    for i in range(6):
        task_services.task_create(actor=team.owner, workspace_id=team.ws, title=f"t{i}")
    # last_seq 12, keep 5: seqs 8..12 are kept. No 100th seq yet, so nothing is
    # deleted, but the answer follows the setting, not what is still stored.
    assert event_count(team.ws) == 12
    client = api(team.member)
    assert [e["seq"] for e in client.get(url(team, "events/?since=7")).json()["results"]] == [8, 9, 10, 11, 12]
    error_shape(client.get(url(team, "events/?since=6")), 410, "resync_required")
    error_shape(client.get(url(team, "events/")), 410, "resync_required")
    monkeypatch.setattr(events, "PRUNE_EVERY", 13)
    task_services.task_create(actor=team.owner, workspace_id=team.ws, title="more")
    assert list(Event.objects.filter(workspace_id=team.ws).values_list("seq", flat=True)) == [9, 10, 11, 12, 13]
    assert [e["seq"] for e in client.get(url(team, "events/?since=8")).json()["results"]] == [9, 10, 11, 12, 13]
    error_shape(client.get(url(team, "events/?since=7")), 410, "resync_required")
