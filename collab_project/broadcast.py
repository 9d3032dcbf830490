"""Sending to channel-layer groups from sync code (services' on_commit hooks).

An event is encoded to JSON once here, not once per socket.
"""
import asyncio
import logging
import os
import time
from datetime import datetime

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from collab_project import metrics
from collab_project.jsonutil import dumps

logger = logging.getLogger("collab.broadcast")


def _server_loop():
    """The server's event loop when called from one of its sync threads (as async_to_sync finds it)."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or loop.is_closed() or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop


async def _send_logged(layer, group: str, message: dict) -> None:
    try:
        await layer.group_send(group, message)
    except Exception:
        metrics.layer_failure("group_send")
        logger.exception("channel layer send failed", extra={"group": group})


def _group_send(group: str, message: dict) -> bool:
    # The worker's fan-out (collab_project/fanout.py) routes by it.
    message["group"] = group
    layer = get_channel_layer()
    if layer is None:
        return False
    loop = _server_loop() if settings.BROADCAST_ASYNC_PUBLISH else None
    if loop is not None:
        # Hand the send to the event loop and return: the worker's database
        # thread goes on with the next write instead of waiting for the loop
        # and Redis. Sends start in call order (FIFO), so seq order holds.
        asyncio.run_coroutine_threadsafe(_send_logged(layer, group, message), loop)
        return True
    try:
        async_to_sync(layer.group_send)(group, message)
        return True
    except Exception:
        # The change is committed and in the log; sockets fill the gap from it.
        metrics.layer_failure("group_send")
        logger.exception("channel layer send failed", extra={"group": group})
        return False


def send_event(workspace_id: str, seq: int, payload: dict) -> None:
    message = {"type": "ws.event", "seq": seq, "event": payload["type"]}
    if settings.BROADCAST_ENCODE_ONCE:
        message["text"] = dumps(payload)
    else:
        # Benchmark baseline only: the consumer encodes per socket (workspaces/consumers.py).
        message["payload"] = payload
    if payload["type"].startswith("member."):
        # Sockets act on their own user's membership changes without a query.
        message["user_id"] = payload["data"]["user"]["id"]
        message["role"] = payload["data"]["role"]
    actor = payload.get("actor") or {}
    # The one line per committed write, whatever transport made it.
    logger.info("write", extra={"workspace": workspace_id, "user": actor.get("id"), "seq": seq,
                                "event": payload["type"], "op_id": payload.get("op_id")})
    metrics.event_published(payload["type"])
    if _group_send(f"workspace.{workspace_id}", message):
        _observe_latency(payload.get("ts"))


def _observe_latency(ts) -> None:
    """Commit-to-group_send latency: from the event's timestamp (taken when
    it was written, inside its transaction) to the layer accepting it."""
    try:
        written = datetime.fromisoformat(ts).timestamp()
    except (TypeError, ValueError):
        return
    metrics.broadcast_latency(time.time() - written)


def send_to_user(user_id: int, message_type: str, payload: dict) -> None:
    _group_send(f"user.{user_id}", {"type": message_type, "text": dumps(payload), "payload": payload})
