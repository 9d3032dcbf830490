"""The workspace socket, path by path, on the real ASGI app (WebsocketCommunicator):
hello, replay, writes, bad input, refusals, membership changes.

Runs on SQLite + the in-memory layer and on PostgreSQL + Redis alike.
"""
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as in_thread
from django.test import override_settings

from workspaces.tests.socket_helpers import HOST, connect, create_tasks, open_ws, url, world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


# -- hello, replay, resync -------------------------------------------------------
async def test_hello_carries_seq_user_role_presence_and_heartbeat(world, connect):
    w = await world()
    sock, hello = await open_ws(connect, w, "member")
    assert hello["seq"] == 2 and hello["role"] == "member" and hello["heartbeat_interval"] == 30
    assert hello["user"] == {"id": w["member"].pk, "username": "member"}
    assert [p["user"]["username"] for p in hello["presence"]] == ["member"]
    assert set(hello["presence"][0]) == {"user", "status", "viewing", "since"}
    assert await sock.quiet()


async def test_since_replays_in_order_then_live(world, connect):
    w = await world()
    await create_tasks(w, 3)
    sock, hello = await open_ws(connect, w, query="since=1")
    assert hello["seq"] == 5
    replay = await sock.recv_n(4)
    assert [m["seq"] for m in replay] == [2, 3, 4, 5]
    assert [m["type"] for m in replay] == ["member.joined"] + ["task.created"] * 3
    await create_tasks(w, 1, who="member")
    live = await sock.recv()
    assert live["seq"] == 6 and live["actor"]["username"] == "member"
    assert await sock.quiet()


async def test_since_current_replays_nothing(world, connect):
    w = await world()
    sock, hello = await open_ws(connect, w, query="since=2")
    assert await sock.quiet()


@pytest.mark.parametrize("since", ["0", "99"])
async def test_resync_required_when_pruned_or_from_the_future(world, connect, since):
    w = await world()
    with override_settings(EVENT_LOG_KEEP=2):
        await create_tasks(w, 3)
        sock, hello = await open_ws(connect, w, query=f"since={since}")
        assert hello["seq"] == 5
        assert await sock.recv() == {"type": "resync_required"}
        await create_tasks(w, 1)
        assert (await sock.recv())["seq"] == 6


async def test_replay_pages_through_a_long_log(world, connect, monkeypatch):
    from workspaces import consumers

    monkeypatch.setattr(consumers, "REPLAY_PAGE", 2)
    w = await world()
    await create_tasks(w, 5)
    sock, _ = await open_ws(connect, w, query="since=0")
    assert [m["seq"] for m in await sock.recv_n(7)] == list(range(1, 8))
    assert await sock.quiet()


async def test_since_at_the_edge_of_the_kept_log_replays(world, connect):
    w = await world()
    with override_settings(EVENT_LOG_KEEP=2):
        await create_tasks(w, 3)  # seqs 3..5; 4 and 5 are kept
        sock, _ = await open_ws(connect, w, query="since=3")
        assert [m["seq"] for m in await sock.recv_n(2)] == [4, 5]


# -- writes -----------------------------------------------------------------------
async def test_create_update_delete_ack_and_event_to_every_socket(world, connect):
    w = await world()
    writer, _ = await open_ws(connect, w, "member")
    other, _ = await open_ws(connect, w, "viewer")

    async def both(op_id):
        got = {m["type"]: m for m in await writer.recv_n(2)}
        ack = got.pop("ack")
        (event,) = got.values()
        assert ack["op_id"] == op_id and ack["seq"] == event["seq"] and event["op_id"] == op_id
        assert await other.recv() == event
        return ack, event

    await writer.send("task.create", {"title": "A", "priority": 2, "id": str(uuid.uuid4())}, "c1")
    ack, event = await both("c1")
    task = ack["data"]
    assert event["type"] == "task.created" and event["seq"] == 3 and event["data"] == task
    assert task["version"] == 1 and task["created_by"] == w["member"].pk and task["workspace"] == w["ws"]
    await writer.send("task.update", {"id": task["id"], "version": 1, "status": "done"}, "u1")
    ack, event = await both("u1")
    assert event["type"] == "task.updated" and event["data"]["changed"] == ["status"]
    assert ack["data"]["version"] == 2 and ack["data"]["status"] == "done"
    await writer.send("task.delete", {"id": task["id"]}, "d1")
    ack, event = await both("d1")
    assert event["type"] == "task.deleted" and event["data"] == {"id": task["id"]} and ack["seq"] == 5


async def test_op_id_repeat_after_reconnect_gets_first_ack_and_applies_once(world, connect):
    from tasks.models import Task

    w = await world()
    sock, _ = await open_ws(connect, w)
    await sock.send("task.create", {"title": "once"}, "same-op")
    first = next(m for m in await sock.recv_n(2) if m["type"] == "ack")
    await sock.comm.disconnect()
    again, hello = await open_ws(connect, w, query=f"since={first['seq']}")
    assert hello["seq"] == first["seq"]
    await again.send("task.create", {"title": "different body"}, "same-op")
    assert await again.recv() == first
    await again.send("heartbeat")
    assert await again.recv() == {"type": "heartbeat.ack", "seq": first["seq"]}
    assert await in_thread(lambda: list(Task.objects.filter(workspace_id=w["ws"]).values_list("title", flat=True)))() \
        == ["once"]


async def test_conflict_carries_current_and_fields(world, connect):
    w = await world()
    a, _ = await open_ws(connect, w, "member")
    await a.send("task.create", {"title": "T"}, "c")
    task = next(m for m in await a.recv_n(2) if m["type"] == "ack")["data"]
    await a.send("task.update", {"id": task["id"], "version": 1, "title": "mine"}, "u1")
    await a.recv_n(2)
    await a.send("task.update", {"id": task["id"], "version": 1, "description": "other field merges"}, "u2")
    merged = next(m for m in await a.recv_n(2) if m["type"] == "ack")
    assert merged["data"]["title"] == "mine" and merged["data"]["version"] == 3
    await a.send("task.update", {"id": task["id"], "version": 1, "title": "stale"}, "u3")
    err = await a.recv()
    assert err["type"] == "error" and err["code"] == "conflict" and err["op_id"] == "u3"
    assert err["data"]["fields"] == ["title"] and err["data"]["current"]["title"] == "mine"
    assert err["data"]["current"]["version"] == 3
    assert await a.quiet()


# -- bad input: error and the socket stays open ------------------------------------------
async def test_bad_messages_get_errors_and_socket_stays_usable(world, connect, settings):
    w = await world()
    sock, _ = await open_ws(connect, w, "member")
    comm = sock.comm
    cases = [
        (lambda: comm.send_to(text_data="{not json"), "invalid"),
        (lambda: comm.send_to(text_data="[1, 2]"), "invalid"),
        (lambda: comm.send_to(text_data='"hello"'), "invalid"),
        (lambda: comm.send_to(bytes_data=b'{"type": "heartbeat"}'), "invalid"),
        (lambda: sock.send("nope.what"), "invalid"),
        (lambda: comm.send_json_to({"data": {}}), "invalid"),
        (lambda: comm.send_json_to({"type": "task.create", "data": [1]}), "invalid"),
        (lambda: comm.send_json_to({"type": "task.create", "op_id": 5, "data": {"title": "x"}}), "invalid"),
        (lambda: comm.send_json_to({"type": "task.create", "op_id": "x" * 65, "data": {"title": "x"}}), "invalid"),
        (lambda: sock.send("task.create", {"title": ""}), "invalid"),
        (lambda: sock.send("task.create", {"title": "x", "priority": "high"}), "invalid"),
        (lambda: sock.send("task.create", {"title": "x", "priority": True}), "invalid"),
        (lambda: sock.send("task.create", {"title": "x", "due_date": 7}), "invalid"),
        (lambda: sock.send("task.create", {"title": "x", "assigned_to": w["outsider"].pk}), "invalid"),
        (lambda: sock.send("task.update", {"id": "not-a-uuid", "version": 1}), "invalid"),
        (lambda: sock.send("task.update", {"id": w["foreign_task"], "title": "x"}), "invalid"),
        (lambda: sock.send("task.update", {"id": w["foreign_task"], "version": 1, "title": "x"}), "not_found"),
        (lambda: sock.send("task.delete", {"id": w["foreign_task"]}), "not_found"),
        (lambda: sock.send("task.delete", {"id": str(uuid.uuid4())}), "not_found"),
        (lambda: sock.send("task.delete", {}), "invalid"),
        (lambda: comm.send_to(text_data='{"type": "heartbeat", "pad": "' + "x" * (64 * 1024) + '"}'), "too_large"),
    ]
    for send, code in cases:
        await send()
        msg = await sock.recv()
        assert msg["type"] == "error" and msg["code"] == code, (msg, code)
        assert isinstance(msg["detail"], str) and msg["detail"]
    await sock.send("task.create", {"title": "x", "priority": "high"}, "typed")
    err = await sock.recv()
    assert err["op_id"] == "typed" and "priority" in err["data"]["fields"]
    await sock.send("heartbeat")
    assert await sock.recv() == {"type": "heartbeat.ack", "seq": 2}
    foreign = await in_thread(_task_title)(w["foreign_task"])
    assert foreign == "theirs"


def _task_title(task_id):
    from tasks.models import Task

    return Task.objects.get(pk=task_id).title


async def test_viewer_cannot_write(world, connect):
    w = await world()
    sock, _ = await open_ws(connect, w, "viewer")
    await sock.send("task.create", {"title": "no"}, "v1")
    err = await sock.recv()
    assert err == {"type": "error", "op_id": "v1", "code": "forbidden", "detail": err["detail"]}
    # Invalid data too: the role is refused before the data is looked at, as over REST.
    await sock.send("task.update", {"id": "not-a-uuid", "version": "x"}, "v2")
    assert (await sock.recv())["code"] == "forbidden"
    assert await sock.quiet()


async def test_message_flood_is_rate_limited(world, connect):
    w = await world()
    sock, _ = await open_ws(connect, w)
    with override_settings(WS_MESSAGES_PER_MINUTE=5):
        # 11 sends span at most one window boundary, so one window sees more than 5.
        for _ in range(11):
            await sock.send("heartbeat", op_id="hb")
        replies = await sock.recv_n(11)
    limited = [m for m in replies if m["type"] == "error"]
    assert limited and all(m["code"] == "rate_limited" and m["op_id"] == "hb" for m in limited)
    assert sum(m["type"] == "heartbeat.ack" for m in replies) >= 5


# -- refusals -------------------------------------------------------------------
async def test_refused_without_or_with_bad_credentials(world, connect):
    from rest_framework_simplejwt.tokens import AccessToken

    w = await world()
    expired = AccessToken.for_user(w["owner"])
    expired.set_exp(lifetime=-timedelta(seconds=5))
    for kwargs in ({"headers": HOST, "origin": "http://testserver"}, {"token": "garbage"}, {"token": ""},
                   {"token": str(expired)}):
        sock, ok, _ = await connect(url(w), **kwargs)
        assert ok
        assert (await sock.close_code()) == (4401, [])


async def test_token_socket_closes_4401_once_its_token_expires(world, connect):
    from rest_framework_simplejwt.tokens import AccessToken

    w = await world()
    token = AccessToken.for_user(w["member"])
    token.set_exp(lifetime=timedelta(seconds=1.5))
    with override_settings(WS_IDLE_TIMEOUT=8):  # a watchdog tick of 2 s, idle close far later
        sock, ok, _ = await connect(url(w), token=str(token))
        assert ok and (await sock.recv())["type"] == "hello"
        code, _ = await sock.close_code(timeout=6)
    assert code == 4401


async def test_refused_for_non_members_and_missing_workspaces(world, connect):
    w = await world()
    for path in (url(w), f"/ws/workspaces/{uuid.uuid4()}/", "/ws/workspaces/not-a-uuid/"):
        sock, ok, _ = await connect(path, w["outsider"])
        assert ok
        assert (await sock.close_code()) == (4404, [])


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "", "9" * 30, "%C2%B2", "%EF%BC%91"])
async def test_unusable_since_closes_4400(world, connect, since):
    w = await world()
    sock, ok, _ = await connect(url(w, f"since={since}"), w["owner"])
    assert ok and (await sock.close_code()) == (4400, [])


async def test_origin_rules(world, connect):
    w = await world()
    session = await in_thread(_session_cookie)(w["owner"])
    cookie = [(b"cookie", f"sessionid={session}".encode())]
    _, ok, _ = await connect(url(w), w["owner"], origin="http://evil.example", headers=HOST)
    assert not ok
    _, ok, _ = await connect(url(w), headers=HOST + cookie)  # cookie without Origin: not a browser's
    assert not ok
    _, ok, _ = await connect(url(w), headers=HOST + cookie, origin="http://evil.example")
    assert not ok
    sock, ok, _ = await connect(url(w), headers=HOST + cookie, origin="http://testserver")
    assert ok and (await sock.recv())["user"]["username"] == "owner"
    sock, ok, _ = await connect(url(w), w["owner"])  # token without Origin: a script
    assert ok and (await sock.recv())["type"] == "hello"


def _session_cookie(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_connects_per_minute_limit(world, connect):
    w = await world()
    with override_settings(WS_CONNECTS_PER_MINUTE=2):
        codes = []
        for _ in range(5):  # 5 connects span at most one window boundary: one window sees 3
            sock, ok, _ = await connect(url(w), w["owner"])
            first = await sock.comm.receive_output(timeout=3)
            codes.append(first.get("code") if first["type"] == "websocket.close" else "open")
            await sock.comm.disconnect()
    assert 4429 in codes and codes[0] == "open"


async def test_sockets_per_user_limit(world, connect):
    w = await world()
    with override_settings(WS_MAX_SOCKETS_PER_USER=2):
        a, _ = await open_ws(connect, w)
        await open_ws(connect, w)
        third, ok, _ = await connect(url(w), w["owner"])
        assert ok and (await third.close_code()) == (4429, [])
        await a.comm.disconnect()
        await open_ws(connect, w)  # a slot is free again


# -- membership changes on open sockets ---------------------------------------------------
async def test_demoted_member_can_no_longer_write(world, connect):
    from workspaces import services

    w = await world()
    sock, _ = await open_ws(connect, w, "member")
    await in_thread(services.member_role_change)(actor=w["owner"], workspace_id=w["ws"],
                                                user_id=w["member"].pk, role="viewer")
    got = {m["type"]: m for m in await sock.recv_n(2)}  # the event and the role_changed notification
    assert got["member.role_changed"]["data"]["role"] == "viewer"
    assert got["notification"]["data"]["type"] == "role_changed"
    await sock.send("task.create", {"title": "no longer"}, "late")
    assert (await sock.recv())["code"] == "forbidden"


async def test_removed_member_gets_event_then_4404(world, connect):
    from workspaces import services

    w = await world()
    gone, _ = await open_ws(connect, w, "member")
    stays, _ = await open_ws(connect, w, "viewer")
    await in_thread(services.member_remove)(actor=w["owner"], workspace_id=w["ws"], user_id=w["member"].pk)
    code, before = await gone.close_code()
    events = [m for m in before if '"presence.' not in m.get("text", "")]
    assert code == 4404 and len(events) == 1 and '"member.removed"' in events[0]["text"]
    removed = await stays.recv()
    assert removed["type"] == "member.removed" and removed["data"]["user"]["id"] == w["member"].pk
    await stays.send("heartbeat")
    assert (await stays.recv())["type"] == "heartbeat.ack"


async def test_deleted_workspace_closes_every_socket_4404(world, connect):
    from workspaces import services

    w = await world()
    socks = [(await open_ws(connect, w, who))[0] for who in ("owner", "member", "viewer")]
    await in_thread(services.workspace_delete)(actor=w["owner"], workspace_id=w["ws"])
    for sock in socks:
        code, before = await sock.close_code()
        kinds = [m["text"] for m in before if '"presence.' not in m.get("text", "")]
        assert code == 4404 and len(kinds) == 1 and '"workspace.deleted"' in kinds[0]
