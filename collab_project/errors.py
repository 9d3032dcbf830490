"""Domain errors raised by services and access helpers.

Transports map them in one place each: `collab_project.api.errors` for HTTP
and `workspaces.consumers` for sockets.
"""
from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"
    default_detail = "The request is not valid."

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any):
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict:
        return {"code": self.code, "detail": self.detail, **self.extra}


class Invalid(DomainError):
    """400; `fields` maps a field name to its messages."""

    def __init__(self, detail: str | None = None, *, fields: dict[str, list[str]] | None = None, **extra):
        super().__init__(detail, fields=fields or {}, **extra)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_detail = "Your role does not allow this."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_detail = "The object changed since the version you sent."


class Gone(DomainError):
    status = 410
    code = "gone"
    default_detail = "This is no longer available."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    default_detail = "Too many requests."


def invalid_field(name: str, message: str) -> Invalid:
    return Invalid(f"{name}: {message}", fields={name: [message]})
