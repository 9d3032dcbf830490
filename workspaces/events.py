"""Events, defined once.

Every committed change of a workspace is one row of the event log with the
next `seq`, written by `event_record` inside the service's transaction, and
broadcast by `publish` only after that transaction commits. REST, sockets,
admin and commands all go through services, so all emit the same events.

The log keeps at least the newest `EVENT_LOG_KEEP` events of a workspace:
older ones are deleted by every `PRUNE_EVERY`-th event (so up to
`PRUNE_EVERY - 1` more stay), not by each, to spare a write that statement.
Readers refuse older seqs by that setting, not by what is still stored
(`selectors.events_after`).
"""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from collab_project.jsonutil import user_ref
from workspaces.models import Event, Workspace
from workspaces.representations import event_dict

logger = logging.getLogger("collab.events")

TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_DELETED = "task.deleted"
MEMBER_JOINED = "member.joined"
MEMBER_REMOVED = "member.removed"
MEMBER_ROLE_CHANGED = "member.role_changed"
WORKSPACE_UPDATED = "workspace.updated"
WORKSPACE_DELETED = "workspace.deleted"

EVENT_TYPES = (
    TASK_CREATED, TASK_UPDATED, TASK_DELETED, MEMBER_JOINED, MEMBER_REMOVED,
    MEMBER_ROLE_CHANGED, WORKSPACE_UPDATED, WORKSPACE_DELETED,
)

# The seqs that prune the log (see the module docstring): one DELETE per this many events.
PRUNE_EVERY = 100


def workspace_group(workspace_id) -> str:
    return f"workspace.{workspace_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def member_event_data(user, role: str) -> dict:
    return {"user": user_ref(user), "role": role}


@dataclass(frozen=True)
class RecordedEvent:
    workspace_id: str
    seq: int
    payload: dict


def event_record(*, workspace: Workspace, type: str, actor, data: dict, op_id: str | None = None) -> RecordedEvent:
    """Append one event to the workspace's log and publish it after commit.

    Must run inside the writing transaction, with `workspace` locked
    (`access_membership(for_write=True)` does that): the seq is the next one,
    and the lock keeps seqs gapless and in commit order.
    """
    assert type in EVENT_TYPES, type
    workspace.last_seq += 1
    Workspace.objects.filter(pk=workspace.pk).update(last_seq=workspace.last_seq)
    event = Event.objects.create(
        workspace=workspace, seq=workspace.last_seq, type=type, actor=actor, op_id=op_id, data=data,
        ts=timezone.now(),
    )
    oldest_kept = workspace.last_seq - settings.EVENT_LOG_KEEP
    if oldest_kept > 0 and workspace.last_seq % PRUNE_EVERY == 0:
        Event.objects.filter(workspace=workspace, seq__lte=oldest_kept).delete()
    payload = event_dict(event, actor=actor)
    recorded = RecordedEvent(str(workspace.pk), event.seq, payload)
    transaction.on_commit(lambda: publish(recorded))
    return recorded


def publish(event: RecordedEvent) -> None:
    """Broadcast a committed event to the workspace's group (encoded once)."""
    from collab_project import broadcast

    broadcast.send_event(event.workspace_id, event.seq, event.payload)
