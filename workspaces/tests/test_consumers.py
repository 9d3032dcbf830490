import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def _receive(comm, timeout=3):
    return await comm.receive_json_from(timeout=timeout)


@pytest.fixture
def setup_ws(make_user):
    from workspaces import services

    def make():
        owner, viewer = make_user("owner"), make_user("viewer")
        ws = services.workspace_create(actor=owner, name="W").data["id"]
        services.member_add(actor=owner, workspace_id=ws, username="viewer", role="viewer")
        return owner, viewer, ws

    return make


async def test_hello_write_ack_and_event(setup_ws, ws_connect):
    from channels.db import database_sync_to_async

    owner, viewer, ws = await database_sync_to_async(setup_ws)()
    a, ok, _ = await ws_connect(f"/ws/workspaces/{ws}/", owner)
    assert ok
    hello = await _receive(a)
    assert hello["type"] == "hello" and hello["seq"] == 1 and hello["role"] == "owner"
    b, ok, _ = await ws_connect(f"/ws/workspaces/{ws}/?since=0", viewer)
    hello_b = await _receive(b)
    assert hello_b["type"] == "hello"
    replay = await _receive(b)
    assert replay["type"] == "member.joined" and replay["seq"] == 1
    joined = await _receive(a)
    assert joined["type"] == "presence.joined" and joined["data"]["user"]["username"] == "viewer"
    await a.send_json_to({"type": "task.create", "op_id": "op1", "data": {"title": "Hello"}})
    got = [await _receive(a), await _receive(a)]
    assert {m["type"] for m in got} == {"ack", "task.created"}
    event_b = await _receive(b)
    assert event_b["type"] == "task.created" and event_b["seq"] == 2
    await b.send_json_to({"type": "task.create", "op_id": "x", "data": {"title": "nope"}})
    err = await _receive(b)
    assert err == {"type": "error", "op_id": "x", "code": "forbidden", "detail": err["detail"]}
    await b.send_to(text_data="{nope")
    assert (await _receive(b))["code"] == "invalid"
    await b.send_json_to({"type": "heartbeat"})
    assert await _receive(b) == {"type": "heartbeat.ack", "seq": 2}
    await a.disconnect()
    left = await _receive(b)
    assert left["type"] == "presence.left"
    await b.disconnect()


async def test_refusals(setup_ws, ws_connect):
    from channels.db import database_sync_to_async

    owner, viewer, ws = await database_sync_to_async(setup_ws)()
    c, ok, code = await ws_connect(f"/ws/workspaces/{ws}/", token="garbage")
    assert ok
    assert (await c.receive_output(timeout=3))["code"] == 4401
    c, ok, code = await ws_connect(f"/ws/workspaces/{ws}/", owner, origin="http://evil.example")
    assert not ok
