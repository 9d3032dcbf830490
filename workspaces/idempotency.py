"""Idempotent writes keyed by a client key (REST Idempotency-Key, socket op_id).

The write runs first; its answer is stored at the end of the same
transaction by one `INSERT ... ON CONFLICT` on the (user, key) unique index.
If the key already holds a fresh answer, that insert changes nothing: the
whole write is rolled back and the stored answer replayed. A concurrent
repeat waits on the index until the first commits (then replays its answer)
or rolls back (then its own insert goes through). A failed write stores
nothing, so a repeat of it is simply tried again.

A repeat thus costs a write that is rolled back (holding the workspace lock
meanwhile): repeats are rare (a client retrying after a lost ack), while a
lookup before every keyed write would cost a round trip on each.
"""
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from django.conf import settings
from django.db import DatabaseError, connection, transaction
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


def _cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def _store(*, user, key: str, result: WriteResult) -> bool:
    """Record the key's answer in the caller's transaction; False when the key
    already holds a fresh answer (a record past the TTL is overwritten).

    One statement, for PostgreSQL and SQLite alike: on a key inserted by a
    transaction still running, PostgreSQL waits for it to end.
    """
    meta = OperationRecord._meta
    values = {"user": user.pk, "key": key, "http_status": result.http_status, "result": result.data,
              "seq": result.seq, "created_at": timezone.now()}
    fields = [meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [quote(field.column) for field in fields]
    unique = ", ".join(columns[:2])  # user, key: the operation_unique_key constraint
    replaced = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
    created = quote(meta.get_field("created_at").column)
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
           f"ON CONFLICT ({unique}) DO UPDATE SET {replaced} "
           f"WHERE {table}.{created} < %s RETURNING {quote(meta.pk.column)}")
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values())]
    params.append(meta.get_field("created_at").get_db_prep_save(_cutoff(), connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _fresh_record(*, user, key: str) -> OperationRecord | None:
    return OperationRecord.objects.filter(user=user, key=key, created_at__gte=_cutoff()).first()


class _AlreadyAnswered(Exception):
    """Rolls back a repeat's write: its key holds the first answer."""


def idempotent(func: Callable[..., WriteResult]) -> Callable[..., WriteResult]:
    """Wrap a service taking `actor` and `op_id` so a repeated key is applied once.

    The wrapper is the service's transaction: a service decorated with it
    needs no @transaction.atomic of its own (nested, that would only add a
    savepoint, two more round trips). A keyed write whose key already holds
    an answer replays it, whether the repeat's own run succeeded or raised.
    """

    @wraps(func)
    def wrapper(*, actor, op_id: str | None = None, **kwargs) -> WriteResult:
        key = validate_key(op_id)
        if key is None:
            with transaction.atomic():
                return func(actor=actor, op_id=None, **kwargs)
        try:
            with transaction.atomic():
                result = func(actor=actor, op_id=key, **kwargs)
                if not _store(user=actor, key=key, result=result):
                    raise _AlreadyAnswered()
                return result
        except Exception as exc:
            # Rolled back. A repeat answers as the first did, whatever its own
            # run met (the task it deleted is gone, the version moved on...).
            try:
                record = _fresh_record(user=actor, key=key)
            except DatabaseError:
                if isinstance(exc, _AlreadyAnswered):
                    raise
                raise exc from None  # the write's own error says more than the lookup's
            if record is not None:
                return _replay(record)
            if isinstance(exc, _AlreadyAnswered):
                # Its answer expired or went (a prune, the user deleted) since the insert saw it.
                raise Conflict("The same operation is still running.", code="in_progress") from None
            raise

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
    return OperationRecord.objects.filter(user=user, key=key, created_at__gte=_cutoff()).exists()


def operation_records_prune(*, older_than_hours: int | None = None) -> int:
    hours = older_than_hours if older_than_hours is not None else settings.IDEMPOTENCY_TTL_HOURS
    deleted, _ = OperationRecord.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours)).delete()
    return deleted
