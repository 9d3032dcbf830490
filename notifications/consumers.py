"""/ws/me/: what is addressed to the user, on any page."""
from collab_project.jsonutil import user_ref
from collab_project.sockets import JsonSocketConsumer, SocketError, db
from notifications.selectors import unread_count
from workspaces.events import user_group


class MeConsumer(JsonSocketConsumer):
    limit_scope = "me"

    async def setup(self):
        # A notification arriving while the count is read waits for hello (and
        # is then counted by the client on top of it, as on any later one).
        self.hold_group_messages()
        await self.join_group(user_group(self.user.pk))
        unread = await db(unread_count)(user=self.user)
        await self.send_json({"type": "hello", "user": user_ref(self.user), "unread": unread})
        await self.ready()

    async def user_notification(self, message):
        if not self.closing:
            await self.send_text(message["text"])

    async def on_message(self, kind, op_id, payload):
        if kind == "heartbeat":
            await self.send_json({"type": "heartbeat.ack"})
            return
        raise SocketError("invalid", f"Unknown message type {kind!r}.")
