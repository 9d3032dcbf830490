"""Shared bits of the wire format: times, user references, fast JSON."""
from datetime import date, datetime, timezone

import orjson


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def user_ref(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username}


def dumps(obj) -> str:
    return orjson.dumps(obj).decode()


def loads(text: str | bytes):
    return orjson.loads(text)
