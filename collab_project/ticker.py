"""The idle watchdog of a worker's sockets: one task per event loop, not one
per socket.

Every tick it closes the sockets silent for WS_IDLE_TIMEOUT (a socket whose
message is still being handled is not silent) and those whose access token
has expired (4401), refreshes every remaining
socket's registration in one Redis round trip, then hands the live sockets of
each consumer class to that class's `tick_all` for its own batched work
(presence refresh, delivery checks). With thousands of idle sockets per
worker this is a handful of round trips a tick instead of several per socket.
"""
import asyncio
import logging
import time
import weakref

from django.conf import settings

logger = logging.getLogger("collab.sockets")

_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker]" = weakref.WeakKeyDictionary()


def tick_seconds() -> float:
    """A quarter of the idle timeout, between 0.5 and 10 s."""
    return max(0.5, min(10.0, settings.WS_IDLE_TIMEOUT / 4))


class Ticker:
    def __init__(self, registry):
        self.registry = registry
        # Weak, as in the fan-out: a socket that died without its disconnect is dropped by itself.
        self.sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.task: asyncio.Task | None = None

    def add(self, sock) -> None:
        self.sockets[sock] = None
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def discard(self, sock) -> None:
        self.sockets.pop(sock, None)

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(tick_seconds())
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failing tick must not end the watchdog (and the idle close with it).
                logger.exception("socket tick failed")

    async def tick(self) -> None:
        now, wall, live = time.monotonic(), time.time(), []
        for sock in list(self.sockets):
            if sock.closing:
                continue
            if not sock.handling and now - sock.last_seen > settings.WS_IDLE_TIMEOUT:
                logger.info("socket idle, closing", extra={"user_id": sock.user.pk})
                await sock.close_idle()
                continue
            if sock.auth_expires is not None and wall >= sock.auth_expires:
                # The access token it connected with has expired: the client
                # refreshes it and reconnects (with ?since=, losing nothing).
                logger.info("socket token expired, closing", extra={"user_id": sock.user.pk})
                await sock.close_expired()
                continue
            live.append(sock)
        await self.registry.refresh_many([sock.registry_entry() for sock in live])
        by_class: dict[type, list] = {}
        for sock in live:
            by_class.setdefault(type(sock), []).append(sock)
        for cls, socks in by_class.items():
            try:
                await cls.tick_all(socks)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("socket tick failed", extra={"consumer": cls.__name__})


def ticker(registry) -> Ticker:
    """This event loop's ticker."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Ticker(registry)
    return found
