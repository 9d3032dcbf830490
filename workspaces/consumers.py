"""The workspace socket: /ws/workspaces/{ws}/.

Delivers the workspace's events to each socket in seq order, each once and
without gaps: an event that arrives ahead of a missing one is held back for
WS_REORDER_HOLD_MS, then the gap is filled from the event log. `since`
replays from the log before live events; the seam is covered by joining the
group before reading the log and dropping what was already delivered.
"""
import asyncio
import logging
import time
from collections import deque

from channels.layers import get_channel_layer
from django.conf import settings

from collab_project.errors import DomainError, Forbidden, Gone, invalid_field
from collab_project.jsonutil import dumps, user_ref
from collab_project.sockets import CLOSE_BAD_QUERY, CLOSE_NOT_FOUND, JsonSocketConsumer, SocketError, db
from collab_project.ticker import tick_seconds
from collab_project.ws_auth import query_params
from presence import store as presence
from tasks import services as task_services
from tasks.models import Task
from tasks.serializers import TaskCreateSerializer, TaskDeleteSerializer, TaskUpdateSerializer
from workspaces import events
from workspaces.access import access_membership, has_role
from workspaces.idempotency import operation_recorded
from workspaces.models import Role, Workspace
from workspaces.selectors import events_after

logger = logging.getLogger("collab.sockets")
REPLAY_PAGE = 500


def _validated(serializer_class, payload: dict) -> dict:
    serializer = serializer_class(data=payload)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@db
def _membership(user, workspace_id):
    return access_membership(user=user, workspace_id=workspace_id)


@db
def _current_seq(workspace_id) -> int | None:
    return Workspace.objects.filter(pk=workspace_id).values_list("last_seq", flat=True).first()


# The sockets of one workspace on one worker usually miss the same events at
# the same moment (a layer hiccup hits the whole process): their log reads are
# shared, so a gap costs one query per worker, not one per socket.
_inflight: dict[tuple, asyncio.Future] = {}
_seq_reads: dict[str, tuple[float, asyncio.Future]] = {}


async def _shared(key: tuple, make):
    """Await the read `key` already running, or start it (single flight)."""
    future = _inflight.get(key)
    if future is None:
        future = _inflight[key] = asyncio.ensure_future(make())
        future.add_done_callback(lambda done: _inflight.pop(key, None) if _inflight.get(key) is done else None)
    return await asyncio.shield(future)


async def _last_seq(workspace_id, not_before: float) -> int | None:
    """last_seq from a read that started at or after `not_before` (monotonic),
    shared with this worker's other sockets. Fresh enough to show every
    event committed before `not_before`, which is all a check needs."""
    started, read = _seq_reads.get(workspace_id, (0.0, None))
    if read is None or started < not_before or (read.done() and (read.cancelled() or read.exception())):
        if len(_seq_reads) > 10_000:
            _seq_reads.clear()
        started, read = time.monotonic(), asyncio.ensure_future(_current_seq(workspace_id))
        _seq_reads[workspace_id] = (started, read)
    return await asyncio.shield(read)


@db
def _read_events_after(workspace_id, last_seq: int, since: int, limit: int):
    return events_after(workspace_id=workspace_id, last_seq=last_seq, since=since, limit=limit)


async def _events_after(workspace_id, last_seq: int, since: int, limit: int):
    # Committed events up to last_seq never change, so a shared answer is the same answer.
    return await _shared(("events", workspace_id, last_seq, since, limit),
                         lambda: _read_events_after(workspace_id, last_seq, since, limit))


@db
def _task_in_workspace(workspace_id, task_id) -> bool:
    from workspaces.access import parse_uuid

    try:
        return Task.objects.filter(pk=parse_uuid(task_id), workspace_id=workspace_id).exists()
    except DomainError:
        return False


def _write(service, serializer_class, *, exclude_id: bool = False):
    """A socket write: validate like REST does, then call the same service."""

    async def handler(self, op_id, payload):
        data = _validated(serializer_class, payload)
        if exclude_id:
            data.pop("id", None)
        result = await db(service)(actor=self.user, workspace_id=self.workspace_id, op_id=op_id, **data)
        await self.send_json({"type": "ack", "op_id": op_id, "seq": result.seq, "data": result.data})

    return handler


async def _task_update(self, op_id, payload):
    data = _validated(TaskUpdateSerializer, payload)
    task_id = _validated(TaskDeleteSerializer, {"id": payload.get("id")})["id"]
    result = await db(task_services.task_update)(actor=self.user, workspace_id=self.workspace_id,
                                                 task_id=task_id, op_id=op_id, **data)
    await self.send_json({"type": "ack", "op_id": op_id, "seq": result.seq, "data": result.data})


async def _task_delete(self, op_id, payload):
    task_id = _validated(TaskDeleteSerializer, payload)["id"]
    result = await db(task_services.task_delete)(actor=self.user, workspace_id=self.workspace_id,
                                                 task_id=task_id, op_id=op_id)
    await self.send_json({"type": "ack", "op_id": op_id, "seq": result.seq, "data": result.data})


class WorkspaceConsumer(JsonSocketConsumer):
    limit_scope = "ws"

    async def check_query(self):
        params = query_params(self.scope)
        self.since = None
        raw = params.get("since")
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
                return CLOSE_BAD_QUERY
            self.since = int(raw)
        return None

    async def authorize(self):
        self.workspace_id = self.scope["url_route"]["kwargs"]["workspace_id"]
        try:
            membership = await _membership(self.user, self.workspace_id)
        except DomainError:
            return CLOSE_NOT_FOUND
        self.workspace_id = str(membership.workspace_id)
        self.role = membership.role
        return None

    async def setup(self):
        self.delivered = 0
        self.pending: dict[int, dict] = {}
        self.gap_timer: asyncio.Task | None = None
        self.catch_up: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        # Group messages that came while the lock was held, in arrival order
        # (made when first needed: most sockets never need one).
        self.backlog: deque[dict] | None = None
        self.drainer: asyncio.Task | None = None
        self.presence_ttl = settings.PRESENCE_TTL
        self.user_ref = user_ref(self.user)
        async with self.lock:
            # Join first, read the log second: every later event then arrives
            # by the group or is filled from the log, and earlier ones are dropped.
            await self.join_group(events.workspace_group(self.workspace_id))
            await self.join_group(events.user_group(self.user.pk))
            joined = await presence.join(self.workspace_id, self.channel_name, self.user, self._presence_ttl())
            current = await _current_seq(self.workspace_id)
            if current is None:
                await self.close_with(CLOSE_NOT_FOUND)
                return
            await self.send_json({
                "type": "hello", "seq": current, "user": self.user_ref, "role": self.role,
                "presence": await presence.online(self.workspace_id),
                "heartbeat_interval": settings.WS_HEARTBEAT_INTERVAL,
            })
            if self.since is None:
                self.delivered = current
            else:
                await self._replay(self.since, current)
        # A layer may confirm a subscription only after group_add returns
        # (Redis pub/sub does): an event published in that window reaches
        # neither the log read above nor the group. Look at the log once more.
        self.catch_up = asyncio.ensure_future(self._catch_up_later())
        if joined:
            # Only a user's first socket is announced; further tabs are the same presence.
            await self._broadcast_presence("presence.joined", joined)

    def _presence_ttl(self) -> float:
        """Entry lifetime: refreshed every watchdog tick, and short enough that
        expiry plus the next sweep (one tick) stays within PRESENCE_TTL."""
        tick = tick_seconds()
        # Never shorter than 1.5 ticks, or a live socket would flap offline between refreshes.
        return max(self.presence_ttl - tick, tick * 1.5)

    async def _replay(self, since: int, current: int) -> None:
        """Send the events after `since` from the log (resync_required if pruned)."""
        if since > current:
            await self.send_json({"type": "resync_required"})
            self.delivered = current
            return
        self.delivered = since
        try:
            while self.delivered < current:
                rows, _ = await _events_after(self.workspace_id, current, self.delivered,
                                              min(REPLAY_PAGE, current - self.delivered))
                if not rows:
                    return  # the workspace is being deleted: its event closes the socket
                if rows[0]["seq"] != self.delivered + 1:
                    raise Gone()  # pruned while we paged through it
                for row in rows:
                    await self._deliver_logged(row)
                    if self.closing:
                        return
        except Gone:
            await self.send_json({"type": "resync_required"})
            self.delivered = max(self.delivered, current)

    async def teardown(self):
        for timer in (self.gap_timer, self.catch_up, self.drainer):
            if timer:
                timer.cancel()
        left = await presence.leave(self.workspace_id, self.channel_name, self.user)
        if left:
            await self._broadcast_presence("presence.left", {**left, "status": "offline", "viewing": None})

    # -- events ----------------------------------------------------------------
    async def group_message(self, message):
        """A message of the workspace group from the worker's fan-out.

        The common case (the next seq, nothing held or queued, the lock free)
        is delivered here and now: the send only buffers the frame, so this
        does not yield to the loop and cannot interleave with a lock holder.
        Anything else queues behind the lock, so the fan-out never waits on
        this socket.
        """
        if self.closing:
            return
        if self.drainer is None and not self.lock.locked():
            if message["type"] == "ws.presence":
                await self.ws_presence(message)
                return
            if message["type"] == "ws.event" and not self.pending:
                seq = message["seq"]
                if seq <= self.delivered:
                    return
                if seq == self.delivered + 1:
                    await self._send_event(message)
                    return
        if self.backlog is None:
            self.backlog = deque()
        self.backlog.append(message)
        if self.drainer is None:
            self.drainer = asyncio.ensure_future(self._drain())

    async def _drain(self):
        try:
            while self.backlog:
                message = self.backlog.popleft()
                try:
                    if message["type"] == "ws.event":
                        await self.ws_event(message)
                    else:
                        async with self.lock:
                            await self.dispatch(message)
                except Exception:
                    logger.exception("socket group message failed", extra={"user_id": self.user.pk})
        finally:
            self.drainer = None

    async def ws_event(self, message):
        """A committed event from the group, possibly early, late or twice."""
        async with self.lock:
            seq = message["seq"]
            if seq <= self.delivered or self.closing:
                return
            if seq != self.delivered + 1:
                self.pending[seq] = message
                if self.gap_timer is None or self.gap_timer.done():
                    self.gap_timer = asyncio.ensure_future(self._fill_gap_later())
                return
            await self._send_event(message)
            await self._flush_pending()

    async def _flush_pending(self):
        while self.delivered + 1 in self.pending and not self.closing:
            await self._send_event(self.pending.pop(self.delivered + 1))
        for seq in [s for s in self.pending if s <= self.delivered]:
            del self.pending[seq]

    async def _catch_up_later(self):
        subscribed = time.monotonic()
        await asyncio.sleep(max(settings.WS_REORDER_HOLD_MS / 1000, 0.5))
        await self._fill_tail(not_before=subscribed + 0.1)

    async def _fill_tail(self, not_before: float | None = None):
        """Deliver from the log whatever was committed but never came through the layer."""
        async with self.lock:
            if self.closing or self.gap_timer_running():
                return  # a held gap is filled by its own timer
            current = await _last_seq(self.workspace_id, time.monotonic() if not_before is None else not_before)
            if current is not None and current > self.delivered:
                await self._fill_from_log(up_to=current)

    async def _fill_gap_later(self):
        await asyncio.sleep(settings.WS_REORDER_HOLD_MS / 1000)
        async with self.lock:
            if self.pending and not self.closing:
                await self._fill_from_log()

    async def _fill_from_log(self, up_to: int | None = None):
        """Deliver what the log has after `delivered` (held or missed events)."""
        target = up_to if up_to is not None else max(self.pending, default=self.delivered)
        try:
            while self.delivered < target and not self.closing:
                rows, _ = await _events_after(self.workspace_id, target, self.delivered,
                                              min(REPLAY_PAGE, target - self.delivered))
                if not rows or rows[0]["seq"] != self.delivered + 1:
                    # The log lacks them (the workspace is gone or they were pruned):
                    # tell the client to reload, then carry on from what we hold.
                    if not any(m.get("event") == events.WORKSPACE_DELETED for m in self.pending.values()):
                        await self.send_json({"type": "resync_required"})
                    self.delivered = min(self.pending, default=target) - 1
                    break
                for row in rows:
                    if row["seq"] in self.pending:
                        await self._send_event(self.pending.pop(row["seq"]))
                    else:
                        await self._deliver_logged(row)
                await self._flush_pending()
        except Gone:
            await self.send_json({"type": "resync_required"})
            self.delivered = min(self.pending, default=target) - 1
        await self._flush_pending()

    async def _deliver_logged(self, row: dict):
        message = {"seq": row["seq"], "text": dumps(row), "event": row["type"]}
        if row["type"].startswith("member."):
            message["user_id"], message["role"] = row["data"]["user"]["id"], row["data"]["role"]
        await self._send_event(message)

    async def _send_event(self, message: dict):
        self.delivered = message["seq"]
        text = message.get("text")
        if text is None:
            # BROADCAST_ENCODE_ONCE off: the Channels-tutorial baseline, one json.dumps per socket.
            import json

            text = json.dumps(message["payload"])
        await self.send_text(text)
        kind = message.get("event")
        if kind == events.WORKSPACE_DELETED:
            await self.close_with(CLOSE_NOT_FOUND)
        elif kind in (events.MEMBER_REMOVED, events.MEMBER_ROLE_CHANGED) and message.get("user_id") == self.user.pk:
            if kind == events.MEMBER_REMOVED:
                await self.close_with(CLOSE_NOT_FOUND)
            else:
                self.role = message["role"]

    # -- presence and notifications ---------------------------------------------
    async def _broadcast_presence(self, kind: str, state: dict, *, about_self: bool = True):
        """Tell the workspace's sockets; the sending socket skips news about its own user."""
        payload = {"type": kind, "data": {"user": state["user"], "status": state["status"],
                                          "viewing": state["viewing"]}}
        group = events.workspace_group(self.workspace_id)
        await get_channel_layer().group_send(group, {
            "type": "ws.presence", "text": dumps(payload), "origin": self.channel_name if about_self else None,
            "group": group,
        })

    async def ws_presence(self, message):
        if message.get("origin") != self.channel_name and not self.closing:
            await self.send_text(message["text"])

    async def user_notification(self, message):
        if not self.closing:
            await self.send_text(message["text"])

    @classmethod
    async def tick_all(cls, sockets):
        """Every watchdog tick: refresh the presence of all of this worker's
        sockets in one round trip, sweep each workspace once, and deliver from
        the log what a socket never got through the layer (a dropped newest
        event has no later one to reveal it: this bounds it by a tick)."""
        try:
            backs = await presence.touch_many([(s.workspace_id, s.channel_name, s.user, s._presence_ttl())
                                               for s in sockets])
            for sock, back in zip(sockets, backs):
                if back:
                    # This worker stalled past the TTL and a sweep announced the user gone.
                    await sock._broadcast_presence("presence.joined", back)
        except Exception:
            # A Redis hiccup must not end the watchdog (and with it the idle close).
            logger.exception("presence tick failed")
        by_workspace: dict[str, list] = {}
        for sock in sockets:
            by_workspace.setdefault(sock.workspace_id, []).append(sock)
        not_before = time.monotonic() - tick_seconds() / 2
        for workspace_id, members in by_workspace.items():
            try:
                for state in await presence.sweep(workspace_id):
                    # About another (dead) worker's user: every socket here hears it.
                    await members[0]._broadcast_presence(
                        "presence.left", {**state, "status": "offline", "viewing": None}, about_self=False)
            except Exception:
                logger.exception("presence sweep failed", extra={"workspace": workspace_id})
            current = await _last_seq(workspace_id, not_before)
            for sock in members:
                if current is not None and current > sock.delivered and not sock.closing:
                    await sock._fill_tail(not_before=not_before)

    # -- client messages ----------------------------------------------------------
    async def on_message(self, kind, op_id, payload):
        handler = self.HANDLERS.get(kind)
        if handler is None:
            raise SocketError("invalid", f"Unknown message type {kind!r}.")
        if kind in self.TASK_WRITES and not has_role(self.role, Role.MEMBER) and not await db(
                operation_recorded)(user=self.user, key=op_id):
            # As over REST: a role too low hears `forbidden` before its data is
            # validated (the service checks again under the workspace lock).
            raise Forbidden()
        await handler(self, op_id, payload)

    async def _heartbeat(self, op_id, payload):
        # A dropped newest event has no later one to reveal the gap: the heartbeat does.
        await self._fill_tail()
        await self.send_json({"type": "heartbeat.ack", "seq": self.delivered})

    def gap_timer_running(self) -> bool:
        return self.gap_timer is not None and not self.gap_timer.done()

    async def _presence_update(self, op_id, payload):
        status = payload.get("status")
        viewing = payload.get("viewing")
        if status not in presence.STATUSES:
            raise invalid_field("status", "Must be active or idle.")
        if viewing is not None:
            if not isinstance(viewing, str) or not await _task_in_workspace(self.workspace_id, viewing):
                raise invalid_field("viewing", "Must be the id of a task of this workspace, or null.")
        state = await presence.update(self.workspace_id, self.user, status=status, viewing=viewing)
        await self._broadcast_presence("presence.updated", state)

    TASK_WRITES = frozenset({"task.create", "task.update", "task.delete"})
    HANDLERS = {
        "task.create": _write(task_services.task_create, TaskCreateSerializer),
        "task.update": _task_update,
        "task.delete": _task_delete,
        "heartbeat": _heartbeat,
        "presence.update": _presence_update,
    }
