"""WebSocket handshake: Origin check, then the user from ?token= or the session.

A foreign Origin is refused before the handshake completes (HTTP 403). A
missing Origin is allowed only with ?token= (clients that are not browsers):
a browser always sends one, so a cookie-only socket without it is refused.
Bad credentials are not refused here: the consumer accepts and closes 4401.
"""
from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser


def query_params(scope) -> dict[str, str]:
    raw = parse_qs(scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
    return {k: v[-1] for k, v in raw.items()}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return "token" in query_params(scope)
    parsed = urlparse(origin)
    if not parsed.scheme or not parsed.netloc:
        return False
    trusted = {o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}
    if origin.rstrip("/") in trusted:
        return True
    host = _header(scope, b"host")
    return host is not None and parsed.netloc.lower() == host.lower()


class OriginValidator:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.app(scope, receive, send)


@database_sync_to_async
def _user_from_token(token: str):
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    try:
        access = AccessToken(token)
        user_id = access[settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")]
    except (TokenError, KeyError):
        return None, None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first(), access.get("exp")


class TokenAuthMiddleware:
    """?token=<access> wins over the session; a bad token means no user at all."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = query_params(scope).get("token")
        if token is not None:
            user, expires = await _user_from_token(token) if token else (None, None)
            # A token socket lives no longer than its token (the watchdog closes it 4401).
            scope = {**scope, "user": user or AnonymousUser(), "auth_method": "token", "auth_expires": expires}
        return await self.app(scope, receive, send)


def SocketAuthStack(app):
    return OriginValidator(AuthMiddlewareStack(TokenAuthMiddleware(app)))
