"""Sending to channel-layer groups from sync code (services' on_commit hooks).

An event is encoded to JSON once here, not once per socket.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from collab_project.jsonutil import dumps

logger = logging.getLogger("collab.broadcast")


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        # The change is committed and in the log; sockets fill the gap from it.
        logger.exception("channel layer send failed", extra={"group": group})


def send_event(workspace_id: str, seq: int, payload: dict) -> None:
    message = {"type": "ws.event", "seq": seq, "text": dumps(payload), "event": payload["type"]}
    if payload["type"].startswith("member."):
        # Sockets act on their own user's membership changes without a query.
        message["user_id"] = payload["data"]["user"]["id"]
        message["role"] = payload["data"]["role"]
    _group_send(f"workspace.{workspace_id}", message)


def send_to_user(user_id: int, message_type: str, payload: dict) -> None:
    _group_send(f"user.{user_id}", {"type": message_type, "text": dumps(payload), "payload": payload})
