"""Idempotent writes keyed by a client key (REST Idempotency-Key, socket op_id).

A key is claimed by inserting its record inside the write's own transaction.
A concurrent repeat blocks on the unique index until the first commits (then
replays its answer) or rolls back (then runs itself). A failed write stores
nothing, so a repeat of it is simply tried again.
"""
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from collab_project.errors import Conflict, invalid_field
from workspaces.models import OperationRecord


@dataclass(frozen=True)
class WriteResult:
    """What a write answers: its result, the seq of its event, the HTTP status."""

    data: Any
    seq: int | None
    http_status: int = 200
    replayed: bool = False


# NUL and lone surrogates cannot be stored by PostgreSQL (a socket op_id is any JSON string).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def validate_key(key) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 64 or _UNSTORABLE.search(key):
        raise invalid_field("op_id", "Must be a string of 1 to 64 characters.")
    return key


def _replay(record: OperationRecord) -> WriteResult:
    return WriteResult(record.result, record.seq, record.http_status, replayed=True)


def idempotent(func: Callable[..., WriteResult]) -> Callable[..., WriteResult]:
    """Wrap a service taking `actor` and `op_id` so a repeated key is applied once."""

    @wraps(func)
    def wrapper(*, actor, op_id: str | None = None, **kwargs) -> WriteResult:
        key = validate_key(op_id)
        if key is None:
            return func(actor=actor, op_id=None, **kwargs)
        with transaction.atomic():
            existing = OperationRecord.objects.filter(user=actor, key=key).first()
            if existing is not None:
                if existing.created_at >= timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS):
                    return _replay(existing)
                existing.delete()
            try:
                with transaction.atomic():
                    record = OperationRecord.objects.create(user=actor, key=key)
            except IntegrityError:
                existing = OperationRecord.objects.filter(user=actor, key=key).first()
                if existing is None:
                    raise Conflict("The same operation is still running.", code="in_progress") from None
                return _replay(existing)
            result = func(actor=actor, op_id=key, **kwargs)
            record.result, record.seq, record.http_status = result.data, result.seq, result.http_status
            record.save(update_fields=["result", "seq", "http_status"])
            return result

    return wrapper


def operation_recorded(*, user, key) -> bool:
    """Whether this user's key already holds an answer to replay.

    A transport checks this before its own access checks: the retry of a
    leave, a delete or a transfer must get its first answer, though the
    caller's membership is no longer what it was.
    """
    if not getattr(user, "is_authenticated", False) or not isinstance(key, str) or not key:
        return False
    if len(key) > 64 or _UNSTORABLE.search(key):
        return False
    since = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    return OperationRecord.objects.filter(user=user, key=key, created_at__gte=since).exists()


def operation_records_prune(*, older_than_hours: int | None = None) -> int:
    hours = older_than_hours if older_than_hours is not None else settings.IDEMPOTENCY_TTL_HOURS
    deleted, _ = OperationRecord.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted
