"""What every socket of ours shares: auth and connection limits at connect,
JSON in and out, the size and message-rate limits, the idle watchdog, and the
one mapping of domain errors to socket `error` messages."""
import logging
import time
import uuid

from autobahn.exception import Disconnected
from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.exceptions import StopConsumer
from channels.consumer import get_handler_name
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from rest_framework import serializers

from collab_project import metrics, ratelimit
from collab_project.dbpool import pool_suspect
from collab_project.errors import DomainError
from collab_project.fanout import local_fanout
from collab_project.jsonutil import dumps, loads
from collab_project.ticker import ticker

logger = logging.getLogger("collab.sockets")

CLOSE_UNAUTHORIZED = 4401  # also when a token socket's access token expires
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_QUERY = 4400
CLOSE_LIMITED = 4429
CLOSE_IDLE = 4408
# 1011 is not a code an application may send through Daphne (autobahn refuses it).
CLOSE_SERVER_ERROR = 4500


class SocketError(Exception):
    """An error answered on the socket; it stays open."""

    def __init__(self, code: str, detail: str, data: dict | None = None):
        self.code, self.detail, self.data = code, detail, data
        super().__init__(detail)


def error_message(exc: Exception, op_id=None) -> dict:
    """The one mapping of errors to socket `error` messages."""
    if isinstance(exc, SocketError):
        code, detail, data = exc.code, exc.detail, exc.data
    elif isinstance(exc, serializers.ValidationError):
        from collab_project.api.errors import _first_message, _flatten

        fields = _flatten(exc.detail)
        code, detail, data = "invalid", _first_message(fields), {"fields": fields}
    elif isinstance(exc, DomainError):
        code, detail = exc.code, exc.detail
        data = dict(exc.extra) or None
        if exc.status == 400:
            code = "invalid"
        elif exc.status == 404:
            code = "not_found"
        elif exc.status == 403:
            code = "forbidden"
        elif exc.status == 409 and exc.code not in ("conflict", "in_progress"):
            code = "conflict"
    elif isinstance(exc, DjangoValidationError):
        code, detail, data = "invalid", "; ".join(exc.messages), None
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # Database unreachable: nothing was written; the client may retry the same op_id.
        pool_suspect()
        code, detail, data = "unavailable", "The service is briefly unavailable; retry.", None
    else:
        code, detail, data = "invalid", "The message could not be processed.", None
    message = {"type": "error", "op_id": op_id if isinstance(op_id, str) else None, "code": code, "detail": detail}
    if data:
        message["data"] = data
    return message


_sockets = ratelimit.SocketRegistry(ttl=max(settings.WS_IDLE_TIMEOUT, 30) * 2)


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """Base for our sockets. Subclasses implement `setup()` (after the limits
    pass, before accept) and `on_message(type, op_id, payload)`."""

    limit_scope = "ws"

    @property
    def channel_layer_alias(self):
        # With the worker's fan-out a socket needs no channel of its own: its
        # groups' messages come through the fan-out, so there is no per-socket
        # layer queue, subscription or second dispatch task (memory per socket).
        return None if settings.BROADCAST_LOCAL_FANOUT else DEFAULT_CHANNEL_LAYER

    async def dispatch(self, message):
        # Channels would close old DB connections before every handler; our
        # DB work goes through database_sync_to_async, which does that itself,
        # so events fan out without a hop to the database thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # -- connect / disconnect ---------------------------------------------
    async def websocket_connect(self, message):
        if self.channel_layer is None:
            # The socket's id in presence, the socket registry and presence echoes.
            self.channel_name = f"socket.{uuid.uuid4().hex}"
        self.user = self.scope.get("user")
        self.auth_expires = self.scope.get("auth_expires")  # epoch seconds, for ?token= sockets
        self.registered = False
        self.last_seen = time.monotonic()
        self.closing = False
        self.accepted = False
        self.handling = 0
        try:
            code = await self.admit()
        except Exception:
            logger.exception("socket connect failed")
            code = CLOSE_SERVER_ERROR
        if code is not None:
            metrics.socket_refused(code)
            logger.info("socket refused", extra={"close_code": code, "path": self.scope.get("path"),
                                                 "user_id": getattr(self.user, "pk", None)})
            if not self.accepted:
                # A close before accept would be an HTTP 403; the contract wants the code.
                await self.accept()
            await self.close_with(code)
            return
        metrics.socket_opened()
        logger.info("socket connected", extra={"path": self.scope.get("path"), "user_id": self.user.pk})
        ticker(_sockets).add(self)

    async def admit(self) -> int | None:
        """Run the checks; a close code to refuse with, or None once accepted."""
        if not getattr(self.user, "is_authenticated", False):
            return CLOSE_UNAUTHORIZED
        code = await self.check_query()
        if code:
            return code
        if not await ratelimit.hit(f"{self.limit_scope}:connect:{self.user.pk}", settings.WS_CONNECTS_PER_MINUTE):
            return CLOSE_LIMITED
        code = await self.authorize()
        if code:
            return code
        if not await _sockets.add(*self.registry_entry(), settings.WS_MAX_SOCKETS_PER_USER):
            return CLOSE_LIMITED
        self.registered = True
        await self.accept()
        self.accepted = True
        await self.setup()
        return None

    async def check_query(self) -> int | None:
        return None

    async def authorize(self) -> int | None:
        return None

    async def setup(self) -> None:
        raise NotImplementedError

    async def teardown(self) -> None:
        pass

    async def websocket_disconnect(self, message):
        ticker(_sockets).discard(self)
        if self.registered:
            metrics.socket_closed()
            try:
                await _sockets.remove(*self.registry_entry())
                await self.teardown()
            except Exception:
                logger.exception("socket teardown failed")
            logger.info("socket disconnected", extra={"path": self.scope.get("path"), "user_id": self.user.pk,
                                                      "close_code": message.get("code")})
        for group in list(getattr(self, "fanout_groups", ())):
            try:
                await local_fanout().leave(group, self)
            except Exception:
                logger.exception("fan-out leave failed")
        for group in list(getattr(self, "joined_groups", ())):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.exception("group discard failed")
        raise StopConsumer()

    async def join_group(self, group: str) -> None:
        """Join `group` through the worker's one subscription
        (collab_project/fanout.py), which then calls `group_message` for each
        message; without the fan-out, on this socket's own channel."""
        if self.channel_layer is None:
            if not hasattr(self, "fanout_groups"):
                self.fanout_groups = []
            await local_fanout().join(group, self)
            self.fanout_groups.append(group)
            return
        if not hasattr(self, "joined_groups"):
            self.joined_groups = []
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined_groups.append(group)

    async def group_message(self, message: dict) -> None:
        """A message of one of this socket's groups, from the worker's fan-out.
        Held until `ready()` (the socket's hello goes first), then dispatched."""
        if getattr(self, "held", None) is not None:
            self.held.append(message)
            return
        await self.dispatch(message)

    def hold_group_messages(self) -> None:
        self.held = []

    async def ready(self) -> None:
        """Hello is out: send what the fan-out brought meanwhile, in order."""
        held, self.held = getattr(self, "held", None) or [], None
        for message in held:
            await self.dispatch(message)

    async def close_with(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    # -- liveness (collab_project/ticker.py) --------------------------------------
    def registry_entry(self) -> tuple[str, str]:
        return f"{self.limit_scope}:{self.user.pk}", self.channel_name

    async def close_idle(self) -> None:
        await self.close_with(CLOSE_IDLE)

    async def close_expired(self) -> None:
        await self.close_with(CLOSE_UNAUTHORIZED)

    @classmethod
    async def tick_all(cls, sockets: list) -> None:
        """Every watchdog tick, with this class's live sockets of the worker."""

    # -- messages ------------------------------------------------------------
    async def send_json(self, payload: dict) -> None:
        metrics.message_out(payload.get("type", "?"))
        await self.send_text(dumps(payload))

    async def send_text(self, text: str) -> None:
        """Send one text frame; a socket the client has just closed is not an error."""
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except Disconnected:
            self.closing = True

    async def websocket_receive(self, message):
        if self.closing:
            return
        self.last_seen = time.monotonic()
        self.handling += 1
        try:
            await self.handle_frame(message)
        finally:
            self.handling -= 1
            self.last_seen = time.monotonic()

    async def handle_frame(self, message):
        op_id = None
        try:
            text = message.get("text")
            limit = settings.WS_MAX_MESSAGE_BYTES
            too_large = text is not None and (len(text) > limit or len(text.encode()) > limit)
            # Every frame counts against the rate, oversized and binary ones too.
            if not await ratelimit.hit(f"{self.limit_scope}:msg:{self.user.pk}", settings.WS_MESSAGES_PER_MINUTE):
                metrics.rate_limited("messages")
                op_id = _op_id_of(text) if text is not None and not too_large else None
                raise SocketError("rate_limited", "Too many messages; slow down.")
            if text is None:
                raise SocketError("invalid", "Binary frames are not supported; send JSON text.")
            if too_large:
                raise SocketError("too_large", f"Messages are limited to {limit} bytes.")
            try:
                body = loads(text)
            except Exception:
                raise SocketError("invalid", "Malformed JSON.") from None
            if not isinstance(body, dict):
                raise SocketError("invalid", "A message must be a JSON object.")
            op_id = body.get("op_id")
            if op_id is not None and (not isinstance(op_id, str) or not 1 <= len(op_id) <= 64):
                op_id = None
                raise SocketError("invalid", "op_id must be a string of 1 to 64 characters.")
            kind = body.get("type")
            if not isinstance(kind, str):
                raise SocketError("invalid", "A message needs a string `type`.")
            metrics.message_in(kind)
            payload = body.get("data", {})
            if payload is None:
                payload = {}
            if not isinstance(payload, dict):
                raise SocketError("invalid", "`data` must be a JSON object.")
            await self.on_message(kind, op_id, payload)
        except Exception as exc:
            if not isinstance(exc, (SocketError, DomainError, serializers.ValidationError, DjangoValidationError)):
                logger.exception("socket message failed", extra={"user_id": self.user.pk})
                metrics.error("socket")
            await self.send_json(error_message(exc, op_id))

    async def on_message(self, kind: str, op_id: str | None, payload: dict) -> None:
        raise SocketError("invalid", f"Unknown message type {kind!r}.")


def _op_id_of(text: str):
    try:
        body = loads(text)
    except Exception:
        return None
    return body.get("op_id") if isinstance(body, dict) else None


def db(func):
    """Run a sync ORM call in the database thread pool (closing stale connections)."""
    return database_sync_to_async(func)
