"""The per-worker fan-out (collab_project/fanout.py) on a layer of its own:
one subscription per group however many local members, each message handed
to each member once, the last member out unsubscribing, a failing member not
holding up the others."""
import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from collab_project.fanout import LocalFanout


class Member:
    def __init__(self, fail=False):
        self.got, self.fail = [], fail

    async def group_message(self, message):
        if self.fail:
            raise RuntimeError("this socket is broken")
        self.got.append(message["n"])


async def until(condition, timeout=3.0):
    """Yield to the loop until `condition()` holds (each step a short wait, with a deadline)."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
def layer():
    return InMemoryChannelLayer()


async def send(layer, group, n):
    await layer.group_send(group, {"type": "ws.event", "group": group, "n": n})


async def test_members_of_a_group_share_one_subscription_and_each_gets_every_message(layer):
    fanout = LocalFanout(layer)
    a, b, other = Member(), Member(), Member()
    await fanout.join("workspace.1", a)
    await fanout.join("workspace.1", b)
    await fanout.join("workspace.2", other)
    assert list(layer.groups["workspace.1"]) == [fanout.channel]
    assert fanout.size("workspace.1") == 2
    for n in range(5):
        await send(layer, "workspace.1", n)
    await send(layer, "workspace.2", 99)
    await until(lambda: len(a.got) == 5 and len(b.got) == 5 and other.got)
    assert a.got == b.got == [0, 1, 2, 3, 4]
    assert other.got == [99]
    fanout.receiver.cancel()


async def test_last_member_out_unsubscribes_and_gets_nothing_more(layer):
    fanout = LocalFanout(layer)
    a, b = Member(), Member()
    await fanout.join("workspace.1", a)
    await fanout.join("workspace.1", b)
    await fanout.leave("workspace.1", a)
    assert list(layer.groups["workspace.1"]) == [fanout.channel]
    await send(layer, "workspace.1", 1)
    await until(lambda: b.got == [1])
    await fanout.leave("workspace.1", b)
    assert "workspace.1" not in layer.groups or not layer.groups["workspace.1"]
    assert fanout.size("workspace.1") == 0
    await fanout.join("workspace.1", a)
    await send(layer, "workspace.1", 2)
    await until(lambda: a.got == [2])
    assert b.got == [1]
    fanout.receiver.cancel()


async def test_a_failing_member_does_not_hold_up_the_others(layer):
    fanout = LocalFanout(layer)
    broken, fine = Member(fail=True), Member()
    await fanout.join("workspace.1", broken)
    await fanout.join("workspace.1", fine)
    for n in range(3):
        await send(layer, "workspace.1", n)
    await until(lambda: fine.got == [0, 1, 2])
    assert not fanout.receiver.done()
    fanout.receiver.cancel()


class SlowLayer(InMemoryChannelLayer):
    """Subscribing and unsubscribing take a round trip, as on Redis."""

    async def group_add(self, group, channel):
        await asyncio.sleep(0.02)
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        await asyncio.sleep(0.02)
        await super().group_discard(group, channel)


@pytest.mark.parametrize("join_first", [True, False])
async def test_a_join_racing_the_last_leave_keeps_the_subscription(join_first):
    """While another group's subscribe holds the fan-out, the last member of a
    group leaves and a new one joins it, in either order: the group stays."""
    layer = SlowLayer()
    fanout = LocalFanout(layer)
    a, b = Member(), Member()
    await fanout.join("workspace.1", a)
    steps = [fanout.join("workspace.1", b), fanout.leave("workspace.1", a)]
    await asyncio.gather(fanout.join("workspace.2", Member()), *(steps if join_first else steps[::-1]))
    assert fanout.size("workspace.1") == 1
    assert list(layer.groups["workspace.1"]) == [fanout.channel]
    await send(layer, "workspace.1", 7)
    await until(lambda: b.got == [7])
    assert a.got == []
    fanout.receiver.cancel()


async def test_groups_are_joined_again_before_the_layer_expires_them(layer, monkeypatch):
    layer.group_expiry = 0.04  # the refresh runs every quarter of it
    fanout = LocalFanout(layer)
    await fanout.join("workspace.1", Member())
    first = layer.groups["workspace.1"][fanout.channel]
    await until(lambda: layer.groups["workspace.1"][fanout.channel] > first)
    fanout.receiver.cancel()
    fanout.refresher.cancel()


async def test_a_socket_gone_without_leaving_is_dropped_by_itself(layer):
    import gc

    fanout = LocalFanout(layer)
    kept, lost = Member(), Member()
    await fanout.join("workspace.1", kept)
    await fanout.join("workspace.1", lost)
    del lost  # its application died without running its disconnect handler
    gc.collect()
    assert fanout.size("workspace.1") == 1
    await send(layer, "workspace.1", 1)
    await until(lambda: kept.got == [1])
    fanout.receiver.cancel()
