"""One channel-layer subscription per group per worker process.

With Channels' usual wiring every socket joins its workspace group on its own
channel, so each event is queued, unpacked and dispatched (a new task and an
`asyncio.wait` in `await_many_dispatch`) once per socket. Here the worker's
event loop joins each group once, on a channel of its own, receives each
message once and hands it to every local socket of that group directly.
Group membership still lives in the channel layer (`workspace.<id>` on Redis
across workers); only the last hop, inside one process, is ours.

A member is any object with `async group_message(message)` that returns
without waiting on anything slow (the workspace consumer queues behind its
own lock instead of waiting): one slow socket must not hold up the others.
Messages sent here carry their group under the `group` key
(`collab_project.broadcast.group_message`).
"""
import asyncio
import logging
import weakref

from channels.layers import get_channel_layer

from collab_project import metrics

logger = logging.getLogger("collab.fanout")

# The channel layer lives per event loop (channels-redis keys its connections by
# loop), so the fan-out does too; tests run many loops in one process.
_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


class LocalFanout:
    """The groups this process's sockets are in, each subscribed once."""

    def __init__(self, layer):
        self.layer = layer
        self.channel: str | None = None
        # Weak: a socket whose application died without its disconnect
        # handler running is dropped here by itself, not sent to forever.
        self.members: dict[str, weakref.WeakKeyDictionary] = {}
        self.changing = asyncio.Lock()
        self.receiver: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None

    async def join(self, group: str, member) -> None:
        """Add `member`; returns once the process is subscribed to `group`."""
        async with self.changing:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            members = self.members.get(group)
            if members is None:
                await self.layer.group_add(group, self.channel)
                members = self.members[group] = weakref.WeakKeyDictionary()
            members[member] = None
            if self.receiver is None or self.receiver.done():
                self.receiver = asyncio.ensure_future(self._receive())
            if self.refresher is None or self.refresher.done():
                self.refresher = asyncio.ensure_future(self._refresh())

    async def leave(self, group: str, member) -> None:
        """Remove `member`; the last one out unsubscribes the process."""
        members = self.members.get(group)
        if members is None:
            return
        members.pop(member, None)
        if members:
            return
        async with self.changing:
            # A join may have refilled the group while we waited for the lock.
            members = self.members.get(group)
            if members is not None and not members:
                del self.members[group]
                await self.layer.group_discard(group, self.channel)

    def size(self, group: str) -> int:
        return len(self.members.get(group, ()))

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer reconnects on its own (pub/sub resubscribes); sockets
                # fill what this misses from the event log.
                metrics.layer_failure("receive")
                logger.exception("fan-out receive failed")
                await asyncio.sleep(0.5)
                continue
            await self.deliver(message)

    async def _refresh(self) -> None:
        """Re-join every group well within the layer's group expiry (a day by
        default on the core and in-memory layers): a worker's membership lasts
        as long as it has sockets there, however long that is."""
        every = min(3600.0, getattr(self.layer, "group_expiry", 86400) / 4)
        while True:
            await asyncio.sleep(every)
            for group in list(self.members):
                try:
                    async with self.changing:
                        if group in self.members:
                            await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.exception("fan-out group refresh failed")

    async def deliver(self, message: dict) -> None:
        members = self.members.get(message.get("group"))
        if not members:
            return
        for member in list(members):
            try:
                await member.group_message(message)
            except Exception:
                logger.exception("fan-out to a socket failed")


def local_fanout() -> LocalFanout:
    """This event loop's fan-out on the default channel layer."""
    layer = get_channel_layer()
    per_loop = _by_loop.setdefault(asyncio.get_running_loop(), {})
    fanout = per_loop.get(id(layer))
    if fanout is None or fanout.layer is not layer:
        fanout = per_loop[id(layer)] = LocalFanout(layer)
    return fanout
