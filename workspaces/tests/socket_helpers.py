"""Shared by the workspace socket tests: a communicator wrapper with timed
waits, a small world of users and workspaces, and ways to make the channel
layer drop, delay or repeat events."""
import pytest
from channels.db import database_sync_to_async as in_thread

HOST = [(b"host", b"testserver")]


class Sock:
    """A communicator with the waits every test needs (each with a timeout)."""

    def __init__(self, comm):
        self.comm = comm

    async def send(self, kind, data=None, op_id=None, **extra):
        body = {"type": kind, **extra}
        if data is not None:
            body["data"] = data
        if op_id is not None:
            body["op_id"] = op_id
        await self.comm.send_json_to(body)

    async def recv(self, timeout=3, presence=False):
        """The next message, skipping presence chatter unless asked for."""
        while True:
            msg = await self.comm.receive_json_from(timeout=timeout)
            if presence or not msg["type"].startswith("presence."):
                return msg

    async def recv_n(self, n, timeout=3):
        return [await self.recv(timeout) for _ in range(n)]

    async def close_code(self, timeout=3):
        """Read until the server closes; returns (code, messages sent before)."""
        seen = []
        while True:
            out = await self.comm.receive_output(timeout=timeout)
            if out["type"] == "websocket.close":
                return out.get("code"), seen
            seen.append(out)

    async def quiet(self, timeout=0.3):
        """Nothing but presence arrives for `timeout` (a receive with timeout, not a sleep)."""
        while not await self.comm.receive_nothing(timeout=timeout):
            msg = await self.comm.receive_json_from(timeout=1)
            assert msg["type"].startswith("presence."), msg
        return True


@pytest.fixture
def connect(ws_connect):
    """ws_connect wrapped in Sock (ws_connect disconnects them all at the end)."""

    async def make(path, user=None, **kwargs):
        comm, ok, code = await ws_connect(path, user, **kwargs)
        return Sock(comm), ok, code

    return make


@pytest.fixture
def world(db):
    """owner, member, viewer, outsider; workspace `ws` (seq 2) and a foreign one with a task."""
    from django.contrib.auth import get_user_model

    from tasks import services as tasks
    from workspaces import services

    def make():
        # No password: hashing one costs about a second per user on a busy machine.
        owner, member, viewer, outsider = (get_user_model().objects.create(username=n)
                                           for n in ("owner", "member", "viewer", "outsider"))
        ws = services.workspace_create(actor=owner, name="W").data["id"]
        services.member_add(actor=owner, workspace_id=ws, username="member", role="member")
        services.member_add(actor=owner, workspace_id=ws, username="viewer", role="viewer")
        other = services.workspace_create(actor=outsider, name="Other").data["id"]
        foreign = tasks.task_create(actor=outsider, workspace_id=other, title="theirs").data["id"]
        return {"owner": owner, "member": member, "viewer": viewer, "outsider": outsider, "ws": ws,
                "other": other, "foreign_task": foreign}

    return in_thread(make)


def url(w, query=""):
    return f"/ws/workspaces/{w['ws']}/" + (f"?{query}" if query else "")


async def open_ws(connect, w, who="owner", query=""):
    sock, ok, _ = await connect(url(w, query), w[who])
    assert ok
    hello = await sock.recv()
    assert hello["type"] == "hello"
    return sock, hello


@in_thread
def create_tasks(w, n, who="owner"):
    from tasks import services as tasks

    return [tasks.task_create(actor=w[who], workspace_id=w["ws"], title=f"t{i}").seq for i in range(n)]


@pytest.fixture
def muted(monkeypatch):
    """Writes inside `with muted():` reach the log but not the channel layer."""
    import contextlib

    from collab_project import broadcast

    @contextlib.contextmanager
    def mute():
        real = broadcast.send_event
        monkeypatch.setattr(broadcast, "send_event", lambda *a, **k: None)
        try:
            yield
        finally:
            monkeypatch.setattr(broadcast, "send_event", real)

    return mute


async def _resend(w, seq):
    """Publish the logged event `seq` to the group, as the layer would (late)."""
    from channels.layers import get_channel_layer

    from collab_project import broadcast
    from workspaces.models import Event
    from workspaces.representations import event_dict

    event = await in_thread(lambda: event_dict(Event.objects.select_related("actor").get(
        workspace_id=w["ws"], seq=seq)))()
    sent = {}
    real = broadcast._group_send
    broadcast._group_send = lambda group, message: sent.update(group=group, message=message)
    try:
        broadcast.send_event(w["ws"], seq, event)
    finally:
        broadcast._group_send = real
    await get_channel_layer().group_send(sent["group"], sent["message"])


