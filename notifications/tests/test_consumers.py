"""/ws/me/: hello with the unread count, then the user's notifications."""
import pytest
from channels.db import database_sync_to_async as in_thread
from django.test import override_settings

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(db):
    from django.contrib.auth import get_user_model

    from workspaces import services

    def make():
        owner, bob = (get_user_model().objects.create(username=n) for n in ("owner", "bob"))
        ws = services.workspace_create(actor=owner, name="W").data["id"]
        services.member_add(actor=owner, workspace_id=ws, username="bob")  # bob: added_to_workspace
        return owner, bob, ws

    return in_thread(make)


@pytest.fixture
async def me(ws_connect):
    opened = []

    async def make(user=None, **kwargs):
        comm, ok, _ = await ws_connect("/ws/me/", user, **kwargs)
        opened.append(comm)
        assert ok
        return comm

    yield make
    for comm in opened:
        try:
            await comm.disconnect(timeout=2)
        except Exception:
            pass


async def test_hello_unread_then_notifications_on_every_socket(people, me):
    from tasks import services as tasks

    owner, bob, ws = await people()
    first, second = await me(bob), await me(bob)
    for comm in (first, second):
        assert await comm.receive_json_from(timeout=3) == {
            "type": "hello", "user": {"id": bob.pk, "username": "bob"}, "unread": 1}
    await in_thread(tasks.task_create)(actor=owner, workspace_id=ws, title="for bob", assigned_to=bob.pk)
    for comm in (first, second):
        msg = await comm.receive_json_from(timeout=3)
        assert msg["type"] == "notification"
        assert msg["data"]["type"] == "task_assigned" and msg["data"]["workspace"] == ws
        assert set(msg["data"]) == {"id", "type", "title", "message", "data", "workspace", "created_at", "read_at"}
    owners = await me(owner)
    assert (await owners.receive_json_from(timeout=3))["unread"] == 0
    await in_thread(tasks.task_create)(actor=owner, workspace_id=ws, title="own action")
    assert await owners.receive_nothing(timeout=0.3)  # nobody is notified of their own action


async def test_heartbeat_and_errors(people, me):
    owner, bob, ws = await people()
    comm = await me(bob)
    await comm.receive_json_from(timeout=3)
    await comm.send_json_to({"type": "heartbeat"})
    assert await comm.receive_json_from(timeout=3) == {"type": "heartbeat.ack"}
    for text in ("{bad", "[]", '{"type": "task.create", "data": {"title": "x"}}'):
        await comm.send_to(text_data=text)
        assert (await comm.receive_json_from(timeout=3))["code"] == "invalid"
    await comm.send_to(text_data='{"type": "heartbeat", "pad": "' + "x" * 70000 + '"}')
    assert (await comm.receive_json_from(timeout=3))["code"] == "too_large"
    await comm.send_json_to({"type": "heartbeat"})
    assert (await comm.receive_json_from(timeout=3))["type"] == "heartbeat.ack"


async def test_refusals(people, me):
    owner, bob, ws = await people()
    comm = await me(token="garbage")
    assert (await comm.receive_output(timeout=3))["code"] == 4401
    with override_settings(WS_MAX_SOCKETS_PER_USER=1):
        await me(bob)
        extra = await me(bob)
        assert await extra.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}


async def test_idle_me_socket_closes_4408(people, me):
    owner, bob, ws = await people()
    with override_settings(WS_IDLE_TIMEOUT=1):
        comm = await me(bob)
        assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
        assert await comm.receive_output(timeout=3) == {"type": "websocket.close", "code": 4408}
